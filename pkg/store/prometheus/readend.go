package prometheus

import (
	"math"
	"sync/atomic"
	"time"
)

// openEndMargin is how far before the newest sample a remote read may end
// and still be asked to the end of Prometheus's data; or the query's step,
// if longer, as Grafana ends a range at the last multiple of its step.
//
// Prometheus cuts every chunk that reaches past a read's end by decoding
// and re-encoding it, and the head's open chunk always reaches past (its
// index gives it no end): for a query that ends at "now", that is one chunk
// per series, and re-encoding them costs Prometheus about as much as the
// rest of the read. Read to the end, the chunks come as stored; the few
// samples they hold past the request's end are ones the query does not
// evaluate, and chunks that start after it are dropped.
const openEndMargin = 5 * time.Minute

// headChunkRange is the span at whose boundaries Prometheus's head cuts
// its chunks: its smallest block, 2 h unless changed.
const headChunkRange = 2 * time.Hour

// readStart is where the hints of a remote read from `from` to `end`
// start, given the oldest sample of Prometheus's head (math.MaxInt64 if not
// known), and where the sidecar cuts the chunks it gets (math.MinInt64 for
// nowhere).
//
// Prometheus picks the head's chunks by the read's range but cuts them at
// the hints' range, by decoding and re-encoding the samples it keeps. A
// read that starts inside the head would have one chunk per series cut at
// its start: for an instant query that was about half of what Prometheus
// spent on the read. Hints that start where no head chunk reaching `from`
// can start earlier get those chunks as stored, with samples before `from`
// that the query does not evaluate. Those are relayed as they are while
// they are few against the samples asked for: at most twice the time asked
// for lies between, which takes in every read of an hour or more and bounds
// what any read brings to three times what it asks for. Otherwise (five
// minutes of a half-hour chunk) the query would hold several times what it
// asked for, and the sidecar cuts the chunks at `from` itself, which costs
// it a fraction of what it costs Prometheus (see cutter). The chunks of a
// block are picked by the hints' range, so the hints never start before
// the head: a read that does is cut by Prometheus as before.
func readStart(from, end, headMin int64) (hints, cut int64) {
	if from <= headMin {
		return from, math.MinInt64
	}
	r := headChunkRange.Milliseconds()
	start := max(headMin, from-((from%r)+r)%r)
	if from-start > 2*(end-from) {
		return start, from
	}
	return start, math.MinInt64
}

// readStop is where the hints of a remote read from `from` to `end` stop,
// given the oldest sample of Prometheus's head, and where the sidecar cuts
// the chunks it gets (math.MaxInt64 for nowhere). A read that ends well
// before the newest sample (see readEnd) would have Prometheus cut the head
// chunk reaching past its end, one per series, as at the start (see
// readStart); hints open at the end spare it that, and the sidecar cuts
// them instead. Only a read within the head: the chunks of a block are
// picked by the hints' range, so a block's would all come to the hints' end.
func readStop(from, end, headMin int64) (hints, cut int64) {
	if end == math.MaxInt64 || from <= headMin {
		return end, math.MaxInt64
	}
	return math.MaxInt64, end
}

// newestSample is the end of the newest chunk remote read has returned, in
// milliseconds; zero until one has.
type newestSample struct{ t atomic.Int64 }

// knownEnd is the end of a chunk remote read returned, as evidence of the
// newest sample: zero for a chunk said to end at the largest time, as the
// head's index has its open chunk, for that says nothing about it.
func knownEnd(maxTimeMs int64) int64 {
	if maxTimeMs == math.MaxInt64 {
		return 0
	}
	return maxTimeMs
}

// note records t, a knownEnd of a chunk remote read returned.
func (n *newestSample) note(t int64) {
	for {
		cur := n.t.Load()
		if t <= cur || n.t.CompareAndSwap(cur, t) {
			return
		}
	}
}

// readEnd is where a remote read for a request ending at maxt, of a query
// evaluated every step milliseconds (0 if unknown), should end: maxt, or
// the end of Prometheus's data if maxt is within openEndMargin or step of
// the newest sample, or of now if that is earlier: a sample stamped in the
// future, by a target with a wrong clock, must not keep every read cut.
func (n *newestSample) readEnd(maxt, step int64, now time.Time) int64 {
	newest := now.UnixMilli()
	if seen := n.t.Load(); seen != 0 {
		newest = min(newest, seen)
	}
	if maxt >= newest-max(openEndMargin.Milliseconds(), step) {
		return math.MaxInt64
	}
	return maxt
}
