// Package readahead reads the samples of the next few series of a selection
// on another goroutine while PromQL evaluates the current one.
//
// PromQL evaluates a selection's series one after another, in the order the
// selection returned them, on one goroutine; decoding a series' chunks and
// merging its replicas is about half of that work. Done ahead, for a bounded
// number of series, it runs on a second core and the evaluation only walks
// arrays of samples.
package readahead

import (
	"fmt"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

// SeriesSet is a storage.SeriesSet whose series' samples are read ahead of
// the caller. Close must be called once the series are no longer read: it
// stops the goroutines that read ahead.
type SeriesSet struct {
	set storage.SeriesSet
	r   *reader
	cur storage.Series
}

// NewSeriesSet returns set with its series read ahead by `readers`
// goroutines, up to `ahead` series past the last one whose samples were
// asked for. Several readers pay off where PromQL does little with each
// sample, as when it steps over most of them: it then waits for the
// readers.
//
// Only the samples from mint to maxt, inclusive, are kept, as Prometheus's
// own storage answers a selection: stores send whole chunks, whose samples
// outside the range PromQL never looks at, and for an instant query over
// five minutes of a half-hour chunk they would be most of what is held.
func NewSeriesSet(set storage.SeriesSet, mint, maxt int64, ahead, readers int) *SeriesSet {
	r := &reader{ahead: max(ahead, 1), readers: max(readers, 1), mint: mint, maxt: maxt}
	r.cond = sync.NewCond(&r.mu)
	return &SeriesSet{set: set, r: r}
}

func (s *SeriesSet) Next() bool {
	if !s.set.Next() {
		return false
	}
	r := s.r
	r.mu.Lock()
	rs := &series{Series: s.set.At(), r: r, index: len(r.series)}
	r.series = append(r.series, rs)
	r.cond.Broadcast()
	r.mu.Unlock()
	s.cur = rs
	return true
}

func (s *SeriesSet) At() storage.Series { return s.cur }

func (s *SeriesSet) Err() error { return s.set.Err() }

func (s *SeriesSet) Warnings() annotations.Annotations { return s.set.Warnings() }

// Close stops reading ahead and waits until the reading goroutines are gone.
func (s *SeriesSet) Close() {
	r := s.r
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	r.running.Wait()
}

// maxHeld bounds the samples read ahead and not yet asked for, 16 MiB of
// them; the readers may pass it by a series each.
const maxHeld = 1 << 20

// state is where a series' samples are.
type state int

const (
	idle    state = iota // not read, or handed out
	reading              // being read ahead
	ready                // read ahead, waiting to be asked for
	taken                // being read by the caller itself
)

// reader is what a SeriesSet, its series and the goroutine reading ahead
// share, under mu.
type reader struct {
	mu         sync.Mutex
	cond       *sync.Cond // any change of the fields below
	ahead      int
	readers    int
	mint, maxt int64 // the samples kept
	series     []*series
	// want is how far the goroutines read: the series before it.
	want int
	// held counts the samples read ahead and not yet asked for; reading
	// ahead pauses while it is maxHeld or more, so that a window of long
	// series does not take much memory.
	held    int
	next    int // the next series a goroutine looks at
	closed  bool
	started bool
	running sync.WaitGroup
	waiting int // readers waiting for work
	// Sample buffers handed back by iterators the caller reuses.
	free           [][]floats.Sample
	freeHistograms [][]histogramSample
	// it is the caller's iterator over series read in its own goroutine.
	it chunkenc.Iterator
}

// series is one series of the set and its samples once read.
type series struct {
	storage.Series
	r     *reader
	index int

	state state    // under r.mu, as is read
	read  contents // once ready
}

// contents is what reading a series gave: its float samples, or its
// histogram samples.
type contents struct {
	samples    []floats.Sample
	histograms []histogramSample
	err        error
	// stream is set if the series holds floats and histograms both, which
	// are not read ahead: it is then read as it comes.
	stream bool
}

// held is what c counts against maxHeld.
func (c contents) held() int { return len(c.samples) + histogramWeight*len(c.histograms) }

// iterator returns an iterator over what c holds of s, reusing reuse.
func (c contents) iterator(s storage.Series, reuse chunkenc.Iterator) chunkenc.Iterator {
	if c.stream {
		return s.Iterator(nil)
	}
	if c.histograms != nil {
		hi, ok := reuse.(*histogramIterator)
		if !ok {
			hi = &histogramIterator{}
		}
		hi.reset(c.histograms, c.err)
		return hi
	}
	ai, ok := reuse.(*floats.Iterator)
	if !ok {
		ai = &floats.Iterator{}
	}
	ai.Reset(c.samples, c.err)
	return ai
}

func (s *series) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	r := s.r
	r.mu.Lock()
	r.recycle(reuse)
	r.want = max(r.want, s.index+1+r.ahead)
	if !r.started && !r.closed {
		r.started = true
		for range r.readers {
			r.running.Go(r.run)
		}
	}
	r.cond.Broadcast()
	for s.state == reading {
		r.cond.Wait()
	}
	if s.state == ready {
		c := s.read
		s.read, s.state = contents{}, idle
		r.held -= c.held()
		r.mu.Unlock()
		return c.iterator(s.Series, reuse)
	}
	// Not read ahead: read it here, and let the goroutines go on after it.
	s.state = taken
	r.next = max(r.next, s.index+1)
	buf, it := r.takeBuffer(), r.it
	r.it = nil
	r.mu.Unlock()

	c, it := r.read(s.Series, it, buf)

	r.mu.Lock()
	r.it, s.state = it, idle
	r.keepSpare(buf, c)
	r.mu.Unlock()
	return c.iterator(s.Series, reuse)
}

// buffers are sample buffers to read a series into.
type buffers struct {
	floats     []floats.Sample
	histograms []histogramSample
}

// takeBuffer returns free sample buffers, or none; r.mu must be held.
func (r *reader) takeBuffer() buffers {
	var b buffers
	if n := len(r.free); n > 0 {
		b.floats, r.free = r.free[n-1], r.free[:n-1]
	}
	if n := len(r.freeHistograms); n > 0 {
		b.histograms, r.freeHistograms = r.freeHistograms[n-1], r.freeHistograms[:n-1]
	}
	return b
}

// keepSpare keeps the buffers of buf that reading did not fill, c, for the
// next series read; r.mu must be held.
func (r *reader) keepSpare(buf buffers, c contents) {
	if buf.floats != nil && c.samples == nil {
		r.free = append(r.free, buf.floats[:0])
	}
	if buf.histograms != nil && c.histograms == nil {
		r.freeHistograms = append(r.freeHistograms, buf.histograms[:0])
	}
}

// recycle keeps the sample buffer of an iterator the caller reuses, for
// the next series read; r.mu must be held.
func (r *reader) recycle(reuse chunkenc.Iterator) {
	switch it := reuse.(type) {
	case *floats.Iterator:
		if it.Samples() != nil {
			r.free = append(r.free, it.Samples()[:0])
			it.Reset(nil, nil)
		}
	case *histogramIterator:
		if it.samples != nil {
			r.freeHistograms = append(r.freeHistograms, it.samples[:0])
			it.reset(nil, nil)
		}
	}
}

// run reads series ahead until the set is closed.
func (r *reader) run() {
	var it chunkenc.Iterator
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		for !r.closed && (r.next >= r.want || r.next >= len(r.series) || r.held >= maxHeld) {
			r.waiting++
			r.cond.Wait()
			r.waiting--
		}
		if r.closed {
			return
		}
		s := r.series[r.next]
		r.next++
		if s.state != idle {
			continue
		}
		s.state = reading
		buf := r.takeBuffer()
		r.mu.Unlock()

		var c contents
		c, it = r.read(s.Series, it, buf)

		r.mu.Lock()
		r.keepSpare(buf, c)
		s.read, s.state = c, ready
		r.held += c.held()
		r.cond.Broadcast()
	}
}

// floatRuns is an iterator that appends the float samples that follow its
// current one a run at a time, as a merge of replicas does while it follows
// one replica: a call per run rather than per sample. AppendFloats leaves
// the iterator at the last sample it appended, and appends none after maxt.
type floatRuns interface {
	AppendFloats(dst []floats.Sample, maxt int64) []floats.Sample
}

// read reads the samples of s from r.mint to r.maxt into buf through it, an
// iterator to reuse, and returns the iterator for the next read. A series
// that holds both floats and histograms is not read further than the first
// sample of the second kind.
//
// A panic while reading, a chunk that a decoder cannot cope with, fails the
// series, and so the one query that reads it, rather than the process: on a
// reading goroutine nothing else would recover it.
func (r *reader) read(s storage.Series, it chunkenc.Iterator, buf buffers) (c contents, next chunkenc.Iterator) {
	defer func() {
		if r := recover(); r != nil {
			// The iterator may be left in any state: not reused.
			c, next = contents{err: fmt.Errorf("read series %s: panic: %v", s.Labels(), r)}, nil
		}
	}()
	it = s.Iterator(it)
	runs, _ := it.(floatRuns)
	samples, histograms := buf.floats[:0], buf.histograms[:0]
	var scratch *histogram.Histogram
	// The merge is read from the first sample rather than sought to mint:
	// where it would start merging after a seek depends on mint, and so
	// would the replica it follows, so a query over queries, whose leaves
	// select from other starts, would not answer as one query does.
	for typ := it.Next(); ; typ = it.Next() {
		if typ != chunkenc.ValNone {
			if t := it.AtT(); t < r.mint {
				continue
			} else if t > r.maxt {
				typ = chunkenc.ValNone
			}
		}
		switch typ {
		case chunkenc.ValNone:
			if len(histograms) > 0 {
				return contents{histograms: histograms, err: it.Err()}, it
			}
			return contents{samples: samples, err: it.Err()}, it
		case chunkenc.ValFloat:
			if len(histograms) > 0 {
				return contents{stream: true}, it
			}
			t, f := it.At()
			samples = append(samples, floats.Sample{T: t, F: f})
			if runs != nil {
				samples = runs.AppendFloats(samples, r.maxt)
			}
		default:
			if len(samples) > 0 {
				return contents{stream: true}, it
			}
			histograms = appendHistogram(histograms, it, typ, &scratch)
		}
	}
}
