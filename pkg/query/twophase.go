package query

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/floats"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// A two-phase selection is read in two Series calls, so that its samples
// are held a few series at a time instead of all at once.
//
// Prometheus's engine expands a selection into all its storage.Series
// before it reads the samples of any, and keeps them until the query ends:
// read in one call, the chunks of every series, both replicas', are alive
// together. Here the first call asks for labels only and gives the engine
// its series. The second, full call starts at the same time, but is read
// only as the engine asks for each series' samples, in the order it
// expanded them; gRPC's flow control holds back the rest, and a series'
// chunks are dropped once handed out.
//
// It costs a call more, which a short selection, an instant query's, does
// not win back (Options.TwoPhaseSpan). The first call holds the selection's
// --query.max-concurrent-select slot; the second is read as PromQL reads,
// one selection after another.

// Warnings collects the warnings of the stores that arrive after PromQL has
// read those of their selection: those of the second call of a two-phase
// selection, whose answer PromQL reads while it evaluates. The query's
// answer adds them once the query has run. It is safe for concurrent use.
type Warnings struct {
	mu sync.Mutex
	a  annotations.Annotations
}

func (w *Warnings) add(errs []error) {
	if len(errs) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.a.Merge(toAnnotations(errs))
}

// Annotations returns the warnings collected so far.
func (w *Warnings) Annotations() annotations.Annotations {
	w.mu.Lock()
	defer w.mu.Unlock()
	return annotations.New().Merge(w.a)
}

// twoPhase reports whether req is read as a two-phase selection.
func (q *querier) twoPhase(req *storepb.SeriesRequest) bool {
	span := q.opts.TwoPhaseSpan.Milliseconds()
	return span > 0 && q.opts.LateWarnings != nil && !q.streamed &&
		!req.SkipChunks && req.Limit == 0 && req.MaxTime-req.MinTime > span
}

// selectTwoPhase starts both calls of a two-phase selection. stop ends the
// second call's reads: Close must call it before it stops reading ahead,
// as a goroutine reading ahead may wait for a store in the second call.
func (q *querier) selectTwoPhase(ctx context.Context, req *storepb.SeriesRequest, hints *storage.SelectHints, closing func(func())) (set storage.SeriesSet, stop func()) {
	labelsReq := *req
	labelsReq.SkipChunks = true
	// The first call counts the series against --store.limits.request-series,
	// the second its samples only.
	names := q.proxy.Series(ctx, &labelsReq, store.SeriesOptions{StoreMatchers: q.opts.StoreMatchers, Limiter: q.limiter})
	ctx, stop = context.WithCancel(ctx)
	data := q.proxy.Series(ctx, req, store.SeriesOptions{StoreMatchers: q.opts.StoreMatchers, Limiter: q.limiter.SamplesOnly()})
	c := &cursor{
		set:     data,
		data:    &seriesSet{set: data, dedup: q.opts.Dedup, hints: hints},
		pending: map[int]storage.Series{},
		late:    q.opts.LateWarnings,
		readOne: func(lset labels.Labels) (*store.SeriesSet, storage.Series, error) {
			return q.readOne(ctx, req, hints, lset)
		},
	}
	closing(c.close)
	closing(names.Close)
	return &twoPhaseSet{names: names, c: c}, stop
}

// readOne reads the series lset alone, as the second call of its
// selection did: for an iterator asked for again once the second call has
// gone past it. The set's chunks are valid until it is closed.
func (q *querier) readOne(ctx context.Context, req *storepb.SeriesRequest, hints *storage.SelectHints, lset labels.Labels) (*store.SeriesSet, storage.Series, error) {
	one := *req
	one.Matchers = append([]storepb.LabelMatcher(nil), req.Matchers...)
	lset.Range(func(l labels.Label) {
		one.Matchers = append(one.Matchers, storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: l.Name, Value: l.Value})
	})
	set := q.proxy.Series(ctx, &one, store.SeriesOptions{StoreMatchers: q.opts.StoreMatchers, Limiter: q.limiter.SamplesOnly()})
	// The matchers also select series with more labels than lset.
	series := &seriesSet{set: set, dedup: q.opts.Dedup, hints: hints}
	for series.Next() {
		if labels.Equal(series.At().Labels(), lset) {
			return set, series.At(), nil
		}
	}
	return set, nil, series.Err()
}

// twoPhaseSet is a two-phase selection as PromQL reads it: the series of
// the first call, each reading its samples from the second.
type twoPhaseSet struct {
	names *store.SeriesSet
	c     *cursor
	cur   storage.Series
}

func (s *twoPhaseSet) Next() bool {
	if !s.names.Next() {
		return false
	}
	lset, _ := s.names.At()
	s.cur = &twoPhaseSeries{lset: lset, i: s.c.add(lset), c: s.c}
	return true
}

func (s *twoPhaseSet) At() storage.Series { return s.cur }

func (s *twoPhaseSet) Err() error { return s.names.Err() }

func (s *twoPhaseSet) Warnings() annotations.Annotations { return toAnnotations(s.names.Warnings()) }

// twoPhaseSeries is series i of a two-phase selection.
type twoPhaseSeries struct {
	lset labels.Labels
	i    int
	c    *cursor
}

func (s *twoPhaseSeries) Labels() labels.Labels { return s.lset }

func (s *twoPhaseSeries) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	src, err := s.c.take(s.i)
	if err != nil || src == nil {
		// No samples: the second call has no such series (it ended between
		// the calls), or failed, and then its error fails the query.
		it := &floats.Iterator{}
		it.Reset(nil, err)
		return it
	}
	return src.Iterator(reuse)
}

// cursor matches the second call's series with the first's, as they are
// asked for. Read-ahead asks from several goroutines, and not always in
// order: a series passed on the way to a later one waits in pending.
type cursor struct {
	reading sync.Mutex // held by the goroutine reading data
	mu      sync.Mutex
	names   []labels.Labels // the first call's, so far
	set     *store.SeriesSet
	data    storage.SeriesSet // set's series
	head    storage.Series    // read from data and not matched yet
	pos     int               // names[:pos] are matched, or not in data
	pending map[int]storage.Series
	ended   bool
	err     error

	late    *Warnings // of the calls, once closed
	readOne func(labels.Labels) (*store.SeriesSet, storage.Series, error)
	sets    []*store.SeriesSet // of readOne, closed with the cursor
	closed  bool
}

// close ends the calls and collects their warnings. Nothing reads the
// cursor any more: PromQL has done, and read-ahead has stopped.
func (c *cursor) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, set := range append(c.sets, c.set) {
		c.late.add(set.Warnings())
		set.Close()
	}
	c.sets = nil
}

// add appends the first call's next series and returns its index.
func (c *cursor) add(lset labels.Labels) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, lset)
	return len(c.names) - 1
}

// take returns the second call's series for names[i], or nil if it has
// none. A series taken before is read again on its own.
//
// One goroutine at a time reads the second call (reading), and it waits
// for the store without c.mu: a series already read, waiting in pending,
// is never held up by read-ahead waiting for a later one.
func (c *cursor) take(i int) (storage.Series, error) {
	c.mu.Lock()
	if s, ok, err := c.handOut(i); ok {
		return s, err
	}
	c.mu.Unlock()

	c.reading.Lock()
	defer c.reading.Unlock()
	c.mu.Lock()
	// Another goroutine may have read past names[i] meanwhile.
	if s, ok, err := c.handOut(i); ok {
		return s, err
	}
	defer c.mu.Unlock()
	for c.pos <= i {
		if c.head == nil {
			if c.ended {
				return nil, c.err
			}
			c.mu.Unlock()
			next := c.data.Next()
			c.mu.Lock()
			if !next {
				c.ended, c.err = true, c.data.Err()
				continue
			}
			c.head = c.data.At()
		}
		switch cmp := labels.Compare(c.head.Labels(), c.names[c.pos]); {
		case cmp < 0: // began between the calls: PromQL does not know it
			c.head = nil
		case cmp == 0:
			c.pending[c.pos] = c.head
			c.head = nil
			c.pos++
		default: // names[pos] has no samples in the second call
			c.pos++
		}
	}
	s := c.pending[i]
	delete(c.pending, i)
	return s, nil
}

// handOut returns names[i]'s series if the second call has been read past
// it, ok, and then releases c.mu, which must be held: at once if it waits
// in pending, read again on its own if it was handed out before. If it is
// yet to be read, ok is false and c.mu stays held.
func (c *cursor) handOut(i int) (s storage.Series, ok bool, err error) {
	if s, ok := c.pending[i]; ok {
		delete(c.pending, i)
		c.mu.Unlock()
		return s, true, nil
	}
	if i < c.pos {
		s, err := c.again(i)
		return s, true, err
	}
	return nil, false, nil
}

// again reads names[i] on its own; c.mu is held, and released.
func (c *cursor) again(i int) (storage.Series, error) {
	lset, closed := c.names[i], c.closed
	c.mu.Unlock()
	if closed {
		return nil, errors.New("read a series of a closed selection")
	}
	set, s, err := c.readOne(lset)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		set.Close()
		return nil, errors.New("read a series of a closed selection")
	}
	c.sets = append(c.sets, set)
	return s, err
}
