package query

import (
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/dedup"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// seriesSet turns the proxy's stream of label sets, each with the copies
// of its series the stores sent, into storage.Series over their decoded
// chunks: with dedup, one merge of the copies; otherwise the copies are the
// same series from overlapping sources, and their chunks make one series.
type seriesSet struct {
	set   *store.SeriesSet
	dedup bool
	hints *storage.SelectHints
	// lean makes the series' iterators hold little, at some CPU: for an
	// engine that keeps one open per series for the whole query.
	lean bool

	cur storage.Series
	err error
}

func (s *seriesSet) Next() bool {
	if s.err != nil || !s.set.Next() {
		return false
	}
	lset, copies := s.set.At()
	if !s.dedup || len(copies) == 1 {
		var (
			chunks []dedup.Chunk
			err    error
		)
		for _, c := range copies {
			if chunks, err = decodeChunks(chunks, c); err != nil {
				s.err = fmt.Errorf("series %s: %w", lset, err)
				return false
			}
		}
		s.cur = s.chunkSeries(lset, chunks)
		return true
	}
	replicas := make([]storage.Series, len(copies))
	for i, c := range copies {
		chunks, err := decodeChunks(nil, c)
		if err != nil {
			s.err = fmt.Errorf("series %s: %w", lset, err)
			return false
		}
		replicas[i] = s.chunkSeries(lset, chunks)
	}
	s.cur = dedup.Merge(lset, replicas, s.hints)
	return true
}

func (s *seriesSet) chunkSeries(lset labels.Labels, chunks []dedup.Chunk) storage.Series {
	if s.lean {
		return dedup.NewLeanChunkSeries(lset, chunks)
	}
	return dedup.NewChunkSeries(lset, chunks)
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
