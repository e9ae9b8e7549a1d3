package blocks

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// SeriesSet iterates the series of a Set's blocks that match a selection,
// in label order, each with its chunks from every block in time order.
// Chunks are whole, as stored: those that overlap [mint, maxt] are sent,
// so a chunk may hold samples outside it. Labels and chunk data are copies
// of the process's own, valid after the Set is closed.
type SeriesSet struct {
	ctx        context.Context
	mint, maxt int64
	skipChunks bool
	cursors    []*cursor // by block time

	lset   labels.Labels
	chunks []storepb.AggrChunk
	err    error
}

// cursor walks one block's matching series.
type cursor struct {
	b        *block
	postings index.Postings
	symbols  *symbolCache
	builder  labels.ScratchBuilder
	metas    []chunks.Meta
	lset     labels.Labels
	ok       bool
}

// Select returns the series of the Set matching ms that have data in
// [mint, maxt]. With skipChunks, series come without chunks.
func (s *Set) Select(ctx context.Context, mint, maxt int64, skipChunks bool, ms []*labels.Matcher) *SeriesSet {
	ss := &SeriesSet{ctx: ctx, mint: mint, maxt: maxt, skipChunks: skipChunks}
	for _, b := range s.blocks {
		if b.meta.MaxTime <= mint || b.meta.MinTime > maxt {
			continue
		}
		p, err := tsdb.PostingsForMatchers(ctx, indexReader{b.index.Reader}, ms...)
		if err != nil {
			ss.err = fmt.Errorf("block %s: postings: %w", b.meta.ULID, err)
			return ss
		}
		c := &cursor{b: b, postings: p, symbols: newSymbolCache(b.index)}
		if err := ss.advance(c); err != nil {
			ss.err = err
			return ss
		}
		ss.cursors = append(ss.cursors, c)
	}
	return ss
}

// Next moves to the next series.
func (ss *SeriesSet) Next() bool {
	if ss.err != nil {
		return false
	}
	var first *cursor
	for _, c := range ss.cursors {
		if c.ok && (first == nil || labels.Compare(c.lset, first.lset) < 0) {
			first = c
		}
	}
	if first == nil {
		return false
	}
	ss.lset, ss.chunks = first.lset, nil
	// A series in several blocks: its chunks from each, in block order.
	var err error
	for _, c := range ss.cursors {
		if !c.ok || labels.Compare(c.lset, ss.lset) != 0 {
			continue
		}
		if !ss.skipChunks {
			if ss.chunks, err = c.b.chunks.read(c.metas, ss.chunks); err != nil {
				ss.err = fmt.Errorf("block %s: %w", c.b.meta.ULID, err)
				return false
			}
		}
		if err := ss.advance(c); err != nil {
			ss.err = err
			return false
		}
	}
	return true
}

// At is the current series: its labels and chunks.
func (ss *SeriesSet) At() (labels.Labels, []storepb.AggrChunk) { return ss.lset, ss.chunks }

// Err is what ended the iteration early.
func (ss *SeriesSet) Err() error { return ss.err }

// advance moves c to its next series with a chunk in [mint, maxt].
func (ss *SeriesSet) advance(c *cursor) error {
	for n := 0; c.postings.Next(); n++ {
		if n%1024 == 0 {
			if err := ss.ctx.Err(); err != nil {
				return err
			}
		}
		if err := c.symbols.series(c.postings.At(), &c.builder, &c.metas); err != nil {
			return fmt.Errorf("block %s: series: %w", c.b.meta.ULID, err)
		}
		i, j := 0, len(c.metas)
		for i < j && c.metas[i].MaxTime < ss.mint {
			i++
		}
		for j > i && c.metas[j-1].MinTime > ss.maxt {
			j--
		}
		if i == j {
			continue
		}
		c.metas, c.lset, c.ok = c.metas[i:j], c.builder.Labels(), true
		return nil
	}
	c.ok = false
	if err := c.postings.Err(); err != nil {
		return fmt.Errorf("block %s: postings: %w", c.b.meta.ULID, err)
	}
	return nil
}

// indexReader adds what tsdb.PostingsForMatchers needs of a block index
// that the file reader lacks: its postings are sorted already.
type indexReader struct{ *index.Reader }

func (indexReader) SortedPostings(p index.Postings) index.Postings { return p }

var _ tsdb.IndexReader = indexReader{}
