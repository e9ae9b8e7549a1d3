package query

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/dedup"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// seriesSet turns the proxy's stream of store series into storage.Series
// over their decoded chunks.
type seriesSet struct {
	set *store.SeriesSet
	// joinEqual makes series with equal labels one series; otherwise each
	// store's copy stays separate for the replica merge that follows.
	joinEqual bool

	limit seriesLimit

	// Lookahead of one store series, needed to join.
	peekLset   labels.Labels
	peekChunks []storepb.AggrChunk
	hasPeek    bool
	started    bool

	cur storage.Series
	err error
}

func (s *seriesSet) Next() bool {
	if s.err != nil {
		return false
	}
	if !s.started {
		s.started = true
		s.advance()
	}
	if !s.hasPeek {
		return false
	}
	lset := s.peekLset
	chunks, err := decodeChunks(nil, s.peekChunks)
	s.advance()
	for err == nil && s.joinEqual && s.hasPeek && labels.Equal(s.peekLset, lset) {
		chunks, err = decodeChunks(chunks, s.peekChunks)
		s.advance()
	}
	if err != nil {
		s.err = fmt.Errorf("series %s: %w", lset, err)
		return false
	}
	if err := s.limit.add(); err != nil {
		s.err = err
		return false
	}
	s.cur = dedup.NewChunkSeries(lset, chunks)
	return true
}

// seriesLimit counts the series a query reads against its bound.
type seriesLimit struct {
	max  int64 // zero: no bound
	read *atomic.Int64
}

func (l seriesLimit) add() error {
	if l.max <= 0 {
		return nil
	}
	if n := l.read.Add(1); n > l.max {
		return fmt.Errorf("the query reads more than %d series from the stores (--store.limits.request-series); select fewer series", l.max)
	}
	return nil
}

func (s *seriesSet) advance() {
	s.hasPeek = s.set.Next()
	if s.hasPeek {
		s.peekLset, s.peekChunks = s.set.At()
	}
}

func decodeChunks(out []dedup.Chunk, chunks []storepb.AggrChunk) ([]dedup.Chunk, error) {
	// A day of one series is some fifty chunks: grow once, not six times.
	out = slices.Grow(out, len(chunks))
	for _, c := range chunks {
		chk, err := store.DecodeChunk(c.Raw)
		if err != nil {
			return nil, err
		}
		out = append(out, dedup.Chunk{MinTime: c.MinTime, MaxTime: c.MaxTime, Chunk: chk})
	}
	return out, nil
}

func (s *seriesSet) At() storage.Series { return s.cur }

func (s *seriesSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.set.Err()
}

func (s *seriesSet) Warnings() annotations.Annotations { return toAnnotations(s.set.Warnings()) }
