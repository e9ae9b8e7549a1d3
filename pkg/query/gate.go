package query

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// selectGate bounds the Selects of one query that read from the stores at
// once (--query.max-concurrent-select): a query with a thousand selectors
// would otherwise open a thousand calls to every store.
//
// PromQL selects everything first and then reads the sets one after
// another. A set starts reading from the stores as soon as it gets a slot,
// ahead of being read, but at most limit-1 sets that are not being read do
// so: the set PromQL reads next therefore always finds a slot, and never
// waits for sets that wait for PromQL. A set gives its slot back once it has
// been read to its end, or closed.
type selectGate struct {
	slots chan struct{} // every set reading from the stores holds one
	ahead chan struct{} // and those started before being read one of these
}

// newSelectGate returns a gate of limit slots; nil, no bound, if limit is 0.
func newSelectGate(limit int) *selectGate {
	if limit <= 0 {
		return nil
	}
	return &selectGate{slots: make(chan struct{}, limit), ahead: make(chan struct{}, limit-1)}
}

// gatedSet is a Select whose store calls start once the gate lets them.
type gatedSet struct {
	gate *selectGate
	ctx  context.Context
	open func(closing func(func())) storage.SeriesSet

	stop      chan struct{} // closed when read or closed: stop waiting to read ahead
	stopOnce  sync.Once
	aheadDone chan struct{} // closed once the read-ahead goroutine is gone

	// Written by the read-ahead goroutine before aheadDone is closed, and
	// after that only by the reader.
	set         storage.SeriesSet
	closers     []func()
	slot, ahead bool // holds a slot; holds an ahead slot too
	released    bool
	reading     bool // only the reader's
}

// gated returns the set open makes once the gate lets it, or open's set at
// once without a gate. open hands closing what Close must call.
func gated(ctx context.Context, gate *selectGate, closing func(func()), open func(closing func(func())) storage.SeriesSet) storage.SeriesSet {
	if gate == nil {
		return open(closing)
	}
	g := &gatedSet{gate: gate, ctx: ctx, open: open, stop: make(chan struct{}), aheadDone: make(chan struct{})}
	closing(g.close)
	go g.readAhead()
	return g
}

func (g *gatedSet) readAhead() {
	defer close(g.aheadDone)
	select {
	case g.gate.ahead <- struct{}{}:
	case <-g.stop:
		return
	case <-g.ctx.Done():
		return
	}
	select {
	case g.gate.slots <- struct{}{}:
	case <-g.stop:
		<-g.gate.ahead
		return
	case <-g.ctx.Done():
		<-g.gate.ahead
		return
	}
	g.slot, g.ahead = true, true
	g.set = g.open(g.closing)
}

func (g *gatedSet) closing(f func()) { g.closers = append(g.closers, f) }

// started makes sure the set is open, taking a slot for it if it did not
// start ahead of being read.
func (g *gatedSet) started() storage.SeriesSet {
	if g.reading {
		return g.set
	}
	g.reading = true
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.aheadDone
	if g.set != nil {
		// Being read, it no longer counts as ahead: the next set may start.
		if g.ahead {
			g.ahead = false
			<-g.gate.ahead
		}
		return g.set
	}
	select {
	case g.gate.slots <- struct{}{}:
		g.slot = true
		g.set = g.open(g.closing)
	case <-g.ctx.Done():
		g.set = storage.ErrSeriesSet(fmt.Errorf("waiting for a select slot (--query.max-concurrent-select=%d): %w", cap(g.gate.slots), context.Cause(g.ctx)))
	}
	return g.set
}

func (g *gatedSet) Next() bool {
	if g.started().Next() {
		return true
	}
	g.release()
	return false
}

func (g *gatedSet) At() storage.Series { return g.started().At() }

func (g *gatedSet) Err() error { return g.started().Err() }

func (g *gatedSet) Warnings() annotations.Annotations { return g.started().Warnings() }

// release gives the slots back: the set's store calls have ended.
func (g *gatedSet) release() {
	if g.released || !g.slot {
		return
	}
	g.released = true
	<-g.gate.slots
	if g.ahead {
		g.ahead = false
		<-g.gate.ahead
	}
}

// close ends the set's store calls, last opened first, and frees its slot.
func (g *gatedSet) close() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.aheadDone
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
	g.release()
}
