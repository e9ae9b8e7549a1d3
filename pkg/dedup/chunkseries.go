package dedup

import (
	"cmp"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/xorchunk"
)

// Chunk is one encoded chunk of a series and the time range it covers.
type Chunk struct {
	MinTime, MaxTime int64
	Chunk            chunkenc.Chunk
}

// NewChunkSeries returns one replica's series built from its chunks. The
// chunks should be sorted by MinTime (they are sorted here if not) and may
// overlap or repeat each other: a store can send the same chunk twice, or one
// series split across several frames. The series' iterator yields every
// timestamp once, in increasing order; where chunks disagree about a
// timestamp, the earlier chunk wins.
func NewChunkSeries(lset labels.Labels, chunks []Chunk) storage.Series {
	return newChunkSeries(lset, chunks, wholeChunks)
}

// NewLeanChunkSeries is NewChunkSeries for a reader that keeps an iterator
// per series open at once, as Thanos's engine does for a whole query: its
// iterator decodes XOR chunks a few samples at a time, so that it holds
// little besides the chunks, where NewChunkSeries's decodes a chunk whole.
func NewLeanChunkSeries(lset labels.Labels, chunks []Chunk) storage.Series {
	return newChunkSeries(lset, chunks, leanBatches)
}

func newChunkSeries(lset labels.Labels, chunks []Chunk, d decoding) *chunkSeries {
	byMinTime := func(a, b Chunk) int { return cmp.Compare(a.MinTime, b.MinTime) }
	if !slices.IsSortedFunc(chunks, byMinTime) {
		chunks = slices.Clone(chunks)
		slices.SortStableFunc(chunks, byMinTime)
	}
	return &chunkSeries{lset: lset, chunks: chunks, decoding: d}
}

type chunkSeries struct {
	lset     labels.Labels
	chunks   []Chunk
	decoding decoding
}

// decoding is how a chunksIterator decodes XOR chunks.
type decoding int

const (
	// wholeChunks decodes each chunk at once with xorchunk: the fastest.
	wholeChunks decoding = iota
	// leanBatches decodes with xorchunk a few samples at a time, so that
	// an iterator holds little.
	leanBatches
	// firstSamples decodes with xorchunk a handful of samples at a time,
	// as many as a probe of the spacing reads (see firstSpacing).
	firstSamples
)

func (s *chunkSeries) Labels() labels.Labels { return s.lset }

func (s *chunkSeries) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	it, ok := reuse.(*chunksIterator)
	if !ok {
		it = &chunksIterator{}
	}
	it.reset(s.chunks, s.decoding)
	return it
}

// probe returns an iterator over the series for reading its first few
// samples where decodedFirstSpacing cannot: it decodes as many as
// firstSpacing reads at a time, where the merge's own decoding would decode
// the whole first chunk only for them.
func probe(s storage.Series, reuse chunkenc.Iterator) chunkenc.Iterator {
	cs, ok := s.(*chunkSeries)
	if !ok {
		return s.Iterator(reuse)
	}
	it, ok := reuse.(*chunksIterator)
	if !ok {
		it = &chunksIterator{}
	}
	it.reset(cs.chunks, firstSamples)
	return it
}

// openChunk is a chunk being read, positioned at its head sample.
type openChunk struct {
	it chunkenc.Iterator
	// xor is it if the chunk is XOR encoded, called directly: every float
	// sample the merge reads comes through here.
	xor   *xorchunk.Iterator
	typ   chunkenc.ValueType
	t     int64
	v     float64 // of the head, if hasV
	hasV  bool
	index int // into chunks
}

// chunksIterator merges possibly overlapping chunks of one series. Only the
// chunks that can hold the next sample are open, so a series of
// non-overlapping chunks is read with one chunk iterator at a time.
type chunksIterator struct {
	chunks []Chunk
	next   int // first chunk not opened yet
	// nextMinT is the MinTime of chunks[next], or the largest time if
	// there is none: where the open chunk stops being the only one.
	nextMinT int64
	open     []openChunk
	decoding decoding
	// Iterators of finished chunks, for reuse.
	spare    []chunkenc.Iterator
	spareXOR []*xorchunk.Iterator

	// run is the only open chunk if it is a float chunk that holds the
	// current sample: its next sample is the series' next unless it is not
	// later or another chunk starts first (see nextFloat). While run is
	// set, open[0]'s head is not kept up to date; syncRun does that.
	run *xorchunk.Iterator

	cur       int // index into open of the current sample, -1 if none
	curT      int64
	curTyp    chunkenc.ValueType
	curV      float64 // of the current sample, if hasCurV
	hasCurV   bool
	curChunk  int // chunk index of the current sample
	prevChunk int // chunk index of the sample before it
	started   bool
	err       error
}

// reset makes c read chunks from the start, decoded as d says.
func (c *chunksIterator) reset(chunks []Chunk, d decoding) {
	for _, o := range c.open {
		c.release(o)
	}
	*c = chunksIterator{chunks: chunks, decoding: d, open: c.open[:0], spare: c.spare, spareXOR: c.spareXOR, cur: -1, curChunk: -1, prevChunk: -1}
	c.setNextMinT()
}

// nextFloat moves to the next sample if it is the next float of the only
// open chunk, the common case, and returns it; else it moves nothing and
// returns false, and Next must be called. It is small enough to be inlined
// into the merge's loop.
func (c *chunksIterator) nextFloat() (t int64, v float64, ok bool) {
	if c.run == nil {
		return 0, 0, false
	}
	// The chunk's times increase (xorchunk checks), so its next sample is
	// after the current one. prevChunk stays as it is: only histogram
	// chunks read it.
	if t, v, ok = c.run.NextBefore(c.nextMinT); ok {
		c.curT, c.curV = t, v
	}
	return t, v, ok
}

// syncRun brings open[0]'s head up to the current sample before anything
// but nextFloat reads the open chunks.
func (c *chunksIterator) syncRun() {
	if c.run == nil {
		return
	}
	o := &c.open[0]
	o.typ, o.t, o.v, o.hasV = chunkenc.ValFloat, c.curT, c.curV, true
	c.run = nil
}

// decodedFirstSpacing is firstSpacing of the series for an iterator at its
// first sample, read from the samples its open chunk has decoded, if they
// are the series' first spacingsPerEstimate+1: no other chunk may hold a
// sample among them. It saves the merge a probe of the replica, which for
// an instant query's short series was a third of what the merge spent.
func (c *chunksIterator) decodedFirstSpacing() (spacing int64, ok bool) {
	if c.run == nil {
		return 0, false
	}
	var times [spacingsPerEstimate + 1]int64
	s := c.run.Samples()
	if len(s) < len(times) || s[0].T != c.curT || s[len(times)-1].T >= c.nextMinT {
		return 0, false
	}
	for i := range times {
		times[i] = s[i].T
	}
	return smallestSpacing(times[:]), true
}

// setRun sets run if the current sample is a float read from the only open
// chunk.
func (c *chunksIterator) setRun() {
	if len(c.open) == 1 && c.open[0].xor != nil && c.curTyp == chunkenc.ValFloat && c.err == nil {
		c.run = c.open[0].xor
	}
}

func (c *chunksIterator) Next() chunkenc.ValueType {
	if _, _, ok := c.nextFloat(); ok {
		return chunkenc.ValFloat
	}
	if c.run != nil && c.run.NextBatch() {
		// A lean chunk read to the end of a batch: the next one.
		if _, _, ok := c.nextFloat(); ok {
			return chunkenc.ValFloat
		}
	}
	c.syncRun()
	if c.err != nil || (c.started && c.curTyp == chunkenc.ValNone) {
		return chunkenc.ValNone
	}
	if len(c.open) == 1 && c.started {
		// The common case: chunks that do not overlap, read one at a time.
		o := &c.open[0]
		if o.xor != nil {
			o.typ = o.xor.Next()
		} else {
			o.typ = o.it.Next()
		}
		if o.typ != chunkenc.ValNone {
			// A float's value is read with its time, so At needs no call.
			if o.hasV = o.typ == chunkenc.ValFloat; o.xor != nil {
				o.t, o.v = o.xor.At()
			} else if o.hasV {
				o.t, o.v = o.it.At()
			} else {
				o.t = o.it.AtT()
			}
			if o.t > c.curT && c.nextMinT > o.t {
				c.prevChunk = c.curChunk
				c.curT, c.curTyp = o.t, o.typ
				c.curV, c.hasCurV = o.v, o.hasV
				c.setRun()
				return o.typ
			}
		}
		return c.pick(c.curT)
	}
	after := int64(math.MinInt64)
	if c.started {
		after = c.curT
	}
	c.started = true
	for i := range c.open {
		o := &c.open[i]
		for o.typ != chunkenc.ValNone && o.t <= after {
			o.typ = o.it.Next()
			o.t, o.hasV = o.it.AtT(), false
		}
	}
	return c.pick(after)
}

// millis is a time in milliseconds, as chunkenc.Iterator's Seek takes it.
// Seek is declared with this name rather than int64 because vet's stdmethods
// check takes any Seek(int64 ...) for an attempt at io.Seeker and reports
// chunkenc.Iterator's signature as a mistake.
type millis = int64

func (c *chunksIterator) Seek(t millis) chunkenc.ValueType {
	c.syncRun()
	if c.err != nil {
		return chunkenc.ValNone
	}
	if c.started && (c.curTyp == chunkenc.ValNone || c.curT >= t) {
		return c.curTyp
	}
	c.started = true
	for c.next < len(c.chunks) && c.chunks[c.next].MaxTime < t {
		c.next++
	}
	c.setNextMinT()
	for i := range c.open {
		o := &c.open[i]
		if o.typ != chunkenc.ValNone && o.t < t {
			o.typ = o.it.Seek(t)
			o.t, o.hasV = o.it.AtT(), false
		}
	}
	return c.pick(t - 1)
}

// pick drops finished chunks, opens every chunk that may hold a sample
// earlier than the open ones' heads, and makes the earliest head after
// `after` current.
func (c *chunksIterator) pick(after int64) chunkenc.ValueType {
	c.closeFinished()
	for {
		c.cur = -1
		for i := range c.open {
			if c.cur < 0 || c.open[i].t < c.open[c.cur].t {
				c.cur = i
			}
		}
		if c.next >= len(c.chunks) || (c.cur >= 0 && c.chunks[c.next].MinTime > c.open[c.cur].t) {
			break
		}
		c.openChunk(c.next, after)
		c.next++
		c.setNextMinT()
		c.closeFinished()
	}
	if c.err != nil || c.cur < 0 {
		c.curTyp, c.hasCurV = chunkenc.ValNone, false
		return chunkenc.ValNone
	}
	o := c.open[c.cur]
	c.prevChunk, c.curChunk = c.curChunk, o.index
	c.curT, c.curTyp = o.t, o.typ
	c.curV, c.hasCurV = o.v, o.hasV
	c.setRun()
	return c.curTyp
}

func (c *chunksIterator) setNextMinT() {
	c.nextMinT = math.MaxInt64
	if c.next < len(c.chunks) {
		c.nextMinT = c.chunks[c.next].MinTime
	}
}

func (c *chunksIterator) openChunk(index int, after int64) {
	o := openChunk{index: index}
	if chk := c.chunks[index].Chunk; chk.Encoding() == chunkenc.EncXOR {
		if n := len(c.spareXOR); n > 0 {
			o.xor, c.spareXOR = c.spareXOR[n-1], c.spareXOR[:n-1]
		} else {
			o.xor = &xorchunk.Iterator{}
		}
		switch c.decoding {
		case leanBatches:
			o.xor.ResetLean(chk.Bytes())
		case firstSamples:
			o.xor.ResetFew(chk.Bytes(), spacingsPerEstimate+1)
		default:
			o.xor.Reset(chk.Bytes())
		}
		o.it = o.xor
	} else {
		var reuse chunkenc.Iterator
		if n := len(c.spare); n > 0 {
			reuse, c.spare = c.spare[n-1], c.spare[:n-1]
		}
		o.it = chk.Iterator(reuse)
	}
	o.typ = o.it.Seek(after + 1)
	o.t = o.it.AtT()
	c.open = append(c.open, o)
}

// release keeps a finished chunk's iterator for reuse.
func (c *chunksIterator) release(o openChunk) {
	if o.xor != nil {
		c.spareXOR = append(c.spareXOR, o.xor)
		return
	}
	c.spare = append(c.spare, o.it)
}

// closeFinished removes exhausted chunks from the open set, keeping the
// order (earlier chunks first) that breaks ties between equal timestamps.
func (c *chunksIterator) closeFinished() {
	kept := c.open[:0]
	for _, o := range c.open {
		if o.typ != chunkenc.ValNone {
			kept = append(kept, o)
			continue
		}
		if err := o.it.Err(); err != nil && c.err == nil {
			c.err = err
		}
		c.release(o)
	}
	clear(c.open[len(kept):])
	c.open = kept
}

func (c *chunksIterator) At() (int64, float64) {
	if c.hasCurV {
		return c.curT, c.curV
	}
	return c.open[c.cur].it.At()
}

// float returns the current sample if it is a float whose value is known
// without a call to the chunk's iterator.
func (c *chunksIterator) float() (t int64, v float64, ok bool) {
	return c.curT, c.curV, c.hasCurV
}

func (c *chunksIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := c.open[c.cur].it.AtHistogram(h)
	// The hint compares with the previous sample of the same chunk, which
	// is not the sample we returned before if the chunk changed.
	forgetNotReset(&h.CounterResetHint, c.curChunk != c.prevChunk)
	return t, h
}

func (c *chunksIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := c.open[c.cur].it.AtFloatHistogram(fh)
	forgetNotReset(&fh.CounterResetHint, c.curChunk != c.prevChunk)
	return t, fh
}

// forgetNotReset makes a "not a counter reset" hint unknown if the hint
// was read against another sample than the one returned before it (moved):
// only a comparison with that one could tell.
func forgetNotReset(hint *histogram.CounterResetHint, moved bool) {
	if moved && *hint == histogram.NotCounterReset {
		*hint = histogram.UnknownCounterReset
	}
}

func (c *chunksIterator) AtT() int64 { return c.curT }

func (c *chunksIterator) Err() error { return c.err }
