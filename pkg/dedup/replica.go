package dedup

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

// spacingsPerEstimate is how many sample spacings a replica's scrape interval
// estimate is taken over: the smallest of a few is a real interval even when
// scrapes are missed, and the estimate follows a changed interval quickly.
const spacingsPerEstimate = 4

// replica is one replica's iterator, positioned at its head: the earliest
// sample the merge has not passed yet.
type replica struct {
	it chunkenc.Iterator
	// chunks is it if it reads chunks, called directly: the merge reads
	// every sample of the replica it follows through here.
	chunks *chunksIterator
	typ    chunkenc.ValueType // of the head; ValNone once exhausted
	t      int64              // of the head
	v      float64            // of the head, if a float

	// The last float sample passed that is not a stale marker: a counter
	// that reads lower at the head than here was reset by its target.
	prevT   int64
	prevV   float64
	hasPrev bool
	// fh is the head decoded, if a histogram and fhValid: decoded only when
	// the merge must look inside.
	fh      *histogram.FloatHistogram
	fhValid bool

	lastT    int64 // of the last passed sample, to measure spacings
	hasLastT bool
	// interval is the smallest spacing in the last full block of
	// spacingsPerEstimate spacings (or in the first, partial one): the
	// scrape interval unless all those scrapes were missed. Zero is unknown.
	interval     int64
	blockMin     int64 // smallest spacing in the current block
	blockSamples int
}

func (r *replica) readHead(typ chunkenc.ValueType) {
	r.typ, r.fhValid = typ, false
	if typ == chunkenc.ValNone {
		return
	}
	if typ == chunkenc.ValFloat {
		if r.chunks != nil {
			r.t, r.v = r.chunks.At()
		} else {
			r.t, r.v = r.it.At()
		}
		return
	}
	r.t = r.it.AtT()
}

func (r *replica) stale() bool {
	switch r.typ {
	case chunkenc.ValFloat:
		return value.IsStaleNaN(r.v)
	case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
		return value.IsStaleNaN(r.histogram().Sum)
	}
	return false
}

func (r *replica) isHistogram() bool {
	return r.typ == chunkenc.ValHistogram || r.typ == chunkenc.ValFloatHistogram
}

// histogram returns the head, which must be a histogram, as a float
// histogram that stays the replica's until the head moves.
func (r *replica) histogram() *histogram.FloatHistogram {
	if !r.fhValid {
		if r.fh == nil {
			// Never nil: given nil, chunk iterators return their own
			// buffers, which the caller's At* may be given too; decoding
			// into them later would change what the caller holds.
			r.fh = &histogram.FloatHistogram{}
		}
		_, r.fh = r.it.AtFloatHistogram(r.fh)
		r.fhValid = true
	}
	return r.fh
}

// step passes the head, remembering what the merge needs to know about it.
func (r *replica) step() {
	if r.typ == chunkenc.ValFloat && !value.IsStaleNaN(r.v) {
		r.prevT, r.prevV, r.hasPrev = r.t, r.v, true
	}
	if r.hasLastT {
		r.measureSpacing(r.t - r.lastT)
	}
	r.lastT, r.hasLastT = r.t, true
	if r.chunks == nil {
		r.readHead(r.it.Next())
		return
	}
	if t, v, ok := r.chunks.nextFloat(); ok {
		r.typ, r.t, r.v, r.fhValid = chunkenc.ValFloat, t, v, false
		return
	}
	typ := r.chunks.Next()
	if t, v, ok := r.chunks.float(); ok && typ == chunkenc.ValFloat {
		r.typ, r.t, r.v, r.fhValid = typ, t, v, false
		return
	}
	r.readHead(typ)
}

// appendRun appends the samples after the head, a float and no stale
// marker that the caller took, while they are floats of the head's open
// chunk that the merge takes without looking at other replicas (see
// iterator.AppendFloats), and passes each head it appends after. It is
// step and the merge's checks in one loop with no call per sample, for the
// run of the replica the merge follows.
func (r *replica) appendRun(dst []floats.Sample, maxt, othersInterval int64, counter bool) []floats.Sample {
	if r.chunks == nil {
		return dst
	}
	for {
		t, v, ok := r.chunks.nextFloat()
		if !ok {
			return dst
		}
		// As step, for a head known to be a float and no stale marker.
		r.prevT, r.prevV, r.hasPrev = r.t, r.v, true
		if r.hasLastT {
			r.measureSpacing(r.t - r.lastT)
		}
		after, lastV := r.t, r.v
		r.lastT, r.hasLastT = r.t, true
		r.t, r.v = t, v
		if t > maxt || !continues(t, v, after, smallerInterval(r.interval, othersInterval)) || drops(v, lastV, counter) {
			return dst
		}
		dst = append(dst, floats.Sample{T: t, F: v})
	}
}

// passUntil steps over every head at or before t.
func (r *replica) passUntil(t int64) {
	for r.typ != chunkenc.ValNone && r.t <= t {
		r.step()
	}
}

// catchUp passes every head at or before t like passUntil, but first jumps
// over all samples older than lookback before t: the merge reads a replica
// that is not the primary only where the primary has a gap, and needs only
// its last few samples before it.
func (r *replica) catchUp(t, lookback int64) {
	if r.typ != chunkenc.ValNone && lookback > 0 && r.t < t-lookback {
		r.hasLastT = false
		r.readHead(r.it.Seek(t - lookback))
	}
	r.passUntil(t)
}

// firstSpacing is the smallest spacing between the first
// spacingsPerEstimate+1 samples of it, or zero if it has fewer than two.
func firstSpacing(it chunkenc.Iterator) int64 {
	var times [spacingsPerEstimate + 1]int64
	n := 0
	for n < len(times) && it.Next() != chunkenc.ValNone {
		times[n] = it.AtT()
		n++
	}
	return smallestSpacing(times[:n])
}

// smallestSpacing is the smallest positive spacing between successive
// times, or zero if there is none.
func smallestSpacing(times []int64) int64 {
	var smallest int64
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > 0 && (smallest == 0 || d < smallest) {
			smallest = d
		}
	}
	return smallest
}

func (r *replica) measureSpacing(spacing int64) {
	if spacing > 0 && (r.blockMin == 0 || spacing < r.blockMin) {
		r.blockMin = spacing
	}
	if r.blockSamples++; r.blockSamples == spacingsPerEstimate {
		r.interval, r.blockMin, r.blockSamples = r.blockMin, 0, 0
	} else if r.interval == 0 {
		r.interval = r.blockMin
	}
}
