package store

import (
	"container/heap"
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// errClosed cancels the store calls of a SeriesSet its owner closed.
var errClosed = errors.New("series set closed")

// SeriesSet is the merged, label-sorted answer of all stores asked for one
// Series call: each label set once, with every copy of its series the stores
// sent (one per store, or several from a store that serves replicas), in
// store order. A chunk identical to one an earlier copy holds is dropped.
type SeriesSet struct {
	parent  context.Context
	cancel  context.CancelCauseFunc
	partial bool

	streams []*storeStream
	heap    cursorHeap
	started bool

	group  []storeSeries // copies of the current label set
	copies [][]storepb.AggrChunk
	taken  []*cursor // the cursors group came from; reused

	warnings []error
	err      error
}

// Next advances to the next label set.
func (s *SeriesSet) Next() bool {
	if s.err != nil {
		return false
	}
	if !s.started {
		s.start()
	}
	s.group = s.group[:0]
	for len(s.group) == 0 && s.heap.Len() > 0 && s.err == nil {
		s.nextGroup()
	}
	if s.err != nil {
		s.cancel(s.err)
		return false
	}
	return len(s.group) > 0
}

// At returns the current label set and the chunks of each copy of its
// series, as the stores sent them. They are valid until Close; the outer
// slice only until the next call of Next.
func (s *SeriesSet) At() (labels.Labels, [][]storepb.AggrChunk) {
	s.copies = s.copies[:0]
	for _, g := range s.group {
		s.copies = append(s.copies, g.chunks)
	}
	return s.group[0].lset, s.copies
}

// Err returns the error that ended the iteration: a failed store with
// partial response disabled, or the end of the request's context.
func (s *SeriesSet) Err() error { return s.err }

// Warnings returns the failures and warnings of stores that did not make the
// answer fail (partial response). It is complete once Next returned false.
func (s *SeriesSet) Warnings() []error { return s.warnings }

// Close ends every store call still running and waits for their readers to
// stop.
func (s *SeriesSet) Close() {
	if s.cancel == nil {
		return
	}
	s.cancel(errClosed)
	for _, st := range s.streams {
		for range st.out {
		}
	}
}

func (s *SeriesSet) start() {
	s.started = true
	for i, st := range s.streams {
		c := &cursor{stream: st, index: i}
		if s.advance(c) {
			s.heap = append(s.heap, c)
		}
	}
	heap.Init(&s.heap)
}

// nextGroup takes the series with the lowest labels from every store that
// has it and moves those stores on.
func (s *SeriesSet) nextGroup() {
	first := heap.Pop(&s.heap).(*cursor)
	lset := first.at().lset
	s.taken = append(s.taken[:0], first)
	for s.heap.Len() > 0 && labels.Equal(s.heap[0].at().lset, lset) {
		s.taken = append(s.taken, heap.Pop(&s.heap).(*cursor))
	}
	for _, c := range s.taken {
		s.group = append(s.group, *c.at())
		for {
			if !s.advance(c) {
				break
			}
			if !labels.Equal(c.at().lset, lset) {
				heap.Push(&s.heap, c)
				break
			}
			s.group = append(s.group, *c.at())
		}
	}
	s.group = dropIdenticalChunks(s.group)
}

// advance moves c to its store's next series. When the store has no more, it
// settles how the store ended: a warning, an error, or cleanly.
func (s *SeriesSet) advance(c *cursor) bool {
	if c.next() {
		return true
	}
	st := c.stream
	s.warnings = append(s.warnings, st.warnings...)
	switch {
	case s.parent.Err() != nil:
		// The request itself ended: no partial answer makes sense.
		s.err = fmt.Errorf("store %s: %w", st.client, context.Cause(s.parent))
	case st.err == nil:
	case s.partial && !IsLimit(st.err):
		s.warnings = append(s.warnings, st.err)
	default:
		s.err = st.err
	}
	return false
}

// dropIdenticalChunks removes from each series of a group the chunks an
// earlier series of the group already holds byte for byte: they come from
// sources that overlap (one block served twice, stacked queriers). A series
// left without chunks is dropped; one that never had any (skip_chunks) stays.
func dropIdenticalChunks(group []storeSeries) []storeSeries {
	if len(group) < 2 {
		return group
	}
	out := group[:1]
	for _, cur := range group[1:] {
		if len(cur.chunks) == 0 {
			out = append(out, cur)
			continue
		}
		cur.chunks = unseenChunks(out, cur.chunks)
		if len(cur.chunks) == 0 {
			continue
		}
		out = append(out, cur)
	}
	return out
}

// unseenChunks returns the chunks group does not hold yet. It copies only
// when it drops one: replicas rarely share chunk bytes.
func unseenChunks(group []storeSeries, chunks []storepb.AggrChunk) []storepb.AggrChunk {
	for i, c := range chunks {
		if !chunkSeen(group, c) {
			continue
		}
		kept := append(make([]storepb.AggrChunk, 0, len(chunks)-1), chunks[:i]...)
		for _, c := range chunks[i+1:] {
			if !chunkSeen(group, c) {
				kept = append(kept, c)
			}
		}
		return kept
	}
	return chunks
}

func chunkSeen(group []storeSeries, c storepb.AggrChunk) bool {
	for _, s := range group {
		for _, o := range s.chunks {
			if o.MinTime == c.MinTime && o.MaxTime == c.MaxTime && o.Compare(c) == 0 {
				return true
			}
		}
	}
	return false
}

// cursor walks the series one storeStream delivers, a received batch at a
// time.
type cursor struct {
	stream *storeStream
	index  int // position of the store, to order equal labels stably
	batch  []storeSeries
	pos    int
}

func (c *cursor) next() bool {
	c.pos++
	for c.pos >= len(c.batch) {
		batch, ok := <-c.stream.out
		if !ok {
			c.batch = nil
			return false
		}
		c.batch, c.pos = batch, 0
	}
	return true
}

func (c *cursor) at() *storeSeries { return &c.batch[c.pos] }

// cursorHeap orders cursors by their current labels, then by store.
type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }

func (h cursorHeap) Less(i, j int) bool {
	if c := labels.Compare(h[i].at().lset, h[j].at().lset); c != 0 {
		return c < 0
	}
	return h[i].index < h[j].index
}

func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *cursorHeap) Push(x any) { *h = append(*h, x.(*cursor)) }

func (h *cursorHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	*h = old[:n-1]
	return x
}
