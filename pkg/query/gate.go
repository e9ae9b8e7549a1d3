package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
//
// PromQL engines may close a query while a goroutine of theirs still reads
// one of its sets (Thanos's engine returns as soon as one side of a binary
// operation fails), so close runs beside the reader: what both touch is
// under mu, and a store call opened after close is ended at once.
type gatedSet struct {
	gate *selectGate
	ctx  context.Context
	open func(closing func(func())) storage.SeriesSet

	stop      chan struct{} // closed when read or closed: stop waiting to read ahead
	stopOnce  sync.Once
	aheadDone chan struct{} // closed once the read-ahead goroutine is gone
	done      chan struct{} // closed by close: stop waiting for a slot
	doneOnce  sync.Once

	// set is written by the read-ahead goroutine before aheadDone is
	// closed, and after that only by the reader; reading is the reader's.
	set     storage.SeriesSet
	reading bool

	mu          sync.Mutex
	closers     []func()
	slot, ahead bool // holds a slot; holds an ahead slot too
	closed      bool
}

// errSetClosed is what a set closed before it was read answers.
var errSetClosed = errors.New("select closed before it was read")

// gated returns the set open makes once the gate lets it, or open's set at
// once without a gate. open hands closing what Close must call.
func gated(ctx context.Context, gate *selectGate, closing func(func()), open func(closing func(func())) storage.SeriesSet) storage.SeriesSet {
	if gate == nil {
		return open(closing)
	}
	g := &gatedSet{gate: gate, ctx: ctx, open: open, stop: make(chan struct{}), aheadDone: make(chan struct{}), done: make(chan struct{})}
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
	g.mu.Lock()
	g.slot, g.ahead = true, true
	g.mu.Unlock()
	g.set = g.open(g.closing)
}

// closing adds f to what close calls, or calls it now if close has run.
func (g *gatedSet) closing(f func()) {
	g.mu.Lock()
	if !g.closed {
		g.closers = append(g.closers, f)
		f = nil
	}
	g.mu.Unlock()
	if f != nil {
		f()
	}
}

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
		g.mu.Lock()
		if g.ahead {
			g.ahead = false
			<-g.gate.ahead
		}
		g.mu.Unlock()
		return g.set
	}
	g.set = g.wait()
	return g.set
}

// wait takes a slot and opens the set, unless the query ends or closes it
// first.
func (g *gatedSet) wait() storage.SeriesSet {
	select {
	case g.gate.slots <- struct{}{}:
	case <-g.done:
		return storage.ErrSeriesSet(errSetClosed)
	case <-g.ctx.Done():
		return storage.ErrSeriesSet(fmt.Errorf("waiting for a select slot (--query.max-concurrent-select=%d): %w", cap(g.gate.slots), context.Cause(g.ctx)))
	}
	g.mu.Lock()
	if g.closed {
		<-g.gate.slots
		g.mu.Unlock()
		return storage.ErrSeriesSet(errSetClosed)
	}
	g.slot = true
	g.mu.Unlock()
	return g.open(g.closing)
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
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.slot {
		return
	}
	g.slot = false
	<-g.gate.slots
	if g.ahead {
		g.ahead = false
		<-g.gate.ahead
	}
}

// close ends the set's store calls, last opened first, and frees its slot.
func (g *gatedSet) close() {
	g.stopOnce.Do(func() { close(g.stop) })
	g.doneOnce.Do(func() { close(g.done) })
	<-g.aheadDone
	g.mu.Lock()
	g.closed = true
	closers := g.closers
	g.closers = nil
	g.mu.Unlock()
	for _, f := range slices.Backward(closers) {
		f()
	}
	g.release()
}
