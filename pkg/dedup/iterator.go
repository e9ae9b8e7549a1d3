package dedup

import (
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

// iterator merges the replicas of one series. It follows one replica, the
// primary, and takes another replica's sample only where the primary has a
// gap: where the primary's next sample is more than 1.5 scrape intervals
// after the last sample returned. A filling sample must also be at least
// half an interval away from its neighbours, so that two replicas' samples
// scraped a few seconds apart are never interleaved (that makes rate and
// irate jitter). For counters, the values of filling samples are kept
// between the primary's readings around the gap, so moving between replicas
// that read the counter at slightly different moments, or whose clocks
// differ, is never a counter reset; a drop that the replica's own data shows
// is a real reset and is kept. A histogram counter cannot be held like that:
// a filling histogram that would add or hide a reset is left out.
type iterator struct {
	replicas []replica
	sources  []storage.Series // the replicas' series, to probe their spacing
	probe    chunkenc.Iterator
	primary  int
	counter  bool // whether the series is a counter
	// othersInterval is interval() over the replicas but the primary, as
	// of the last call of next: only next moves them or changes the
	// primary, so Next's shortcut, which moves only the primary, needs
	// no loop over all replicas.
	othersInterval int64

	started, done bool
	cur           int // replica of the current sample
	prevSrc       int // replica of the sample before it
	curT          int64
	curV          float64
	curTyp        chunkenc.ValueType

	// The last float returned, for keeping counters monotone.
	lastV      float64
	hasLastV   bool
	lastResetT int64 // when the last counter reset we returned happened
	// The last histogram returned, if a counter histogram.
	lastFH    *histogram.FloatHistogram
	hasLastFH bool
}

func (it *iterator) reset(sources []storage.Series, counter bool) {
	*it = iterator{replicas: it.replicas, sources: sources, probe: it.probe, lastFH: it.lastFH,
		counter: counter, cur: -1, prevSrc: -1, lastResetT: math.MinInt64}
}

// interval is the scrape interval estimated from all replicas; zero if
// unknown yet.
func (it *iterator) interval() int64 {
	return smallerInterval(it.replicas[it.primary].interval, it.intervalExcept(it.primary))
}

// intervalExcept is interval() over the replicas but skip.
func (it *iterator) intervalExcept(skip int) int64 {
	var smallest int64
	for i := range it.replicas {
		if i != skip {
			smallest = smallerInterval(smallest, it.replicas[i].interval)
		}
	}
	return smallest
}

// smallerInterval is the smaller of two interval estimates, zero being
// unknown.
func smallerInterval(a, b int64) int64 {
	if b > 0 && (a == 0 || b < a) {
		return b
	}
	return a
}

func (it *iterator) start() {
	it.started = true
	for i := range it.replicas {
		// The merge judges gaps by the scrape interval, so it must know the
		// interval from the first sample on: a replica that is not the
		// primary is only read in the primary's gaps, and the primary's
		// first spacing may itself be a missed scrape.
		r := &it.replicas[i]
		r.readHead(r.it.Next())
		if r.chunks != nil {
			var ok bool
			if r.interval, ok = r.chunks.decodedFirstSpacing(); ok {
				continue
			}
		}
		it.probe = probe(it.sources[i], it.probe)
		r.interval = firstSpacing(it.probe)
	}
	it.primary = it.earliest()
	if it.primary < 0 {
		it.done = true
	}
}

// earliest is the replica with the earliest head, or -1 if all are exhausted.
func (it *iterator) earliest() int {
	best := -1
	for i := range it.replicas {
		r := &it.replicas[i]
		if r.typ != chunkenc.ValNone && (best < 0 || r.t < it.replicas[best].t) {
			best = i
		}
	}
	return best
}

func (it *iterator) Next() chunkenc.ValueType {
	if !it.started {
		it.start()
	}
	if it.done {
		return chunkenc.ValNone
	}
	if it.curTyp == chunkenc.ValNone {
		return it.next(math.MinInt64)
	}
	if it.cur == it.primary && it.curTyp == chunkenc.ValFloat {
		// The common case, once per sample of the primary: its next sample
		// is a plain float with no gap before it. This does what next does
		// then, without its calls.
		p, after := &it.replicas[it.primary], it.curT
		p.passUntil(after)
		if iv := smallerInterval(p.interval, it.othersInterval); p.typ == chunkenc.ValFloat && !math.IsNaN(p.v) && (iv == 0 || p.t-after <= iv*3/2) {
			v := p.v
			if drops(v, it.lastV, it.counter && it.hasLastV) {
				v = it.align(it.primary, after, v)
			} else {
				it.lastV, it.hasLastV = v, true
			}
			it.prevSrc, it.curT, it.curV = it.primary, p.t, v
			it.hasLastFH = false
			return chunkenc.ValFloat
		}
	}
	return it.next(it.curT)
}

// AppendFloats appends to dst the samples that Next would return next, up
// to the last at or before maxt, for as long as Next would take its
// shortcut: each a float of the primary, no NaN, no gap before it and no
// drop of a counter. It leaves the iterator at the last sample appended,
// so Next goes on after it; it appends nothing where the shortcut does not
// apply. A reader that keeps whole series calls it after each Next, and so
// makes a call per run of the followed replica rather than three per
// sample.
func (it *iterator) AppendFloats(dst []floats.Sample, maxt int64) []floats.Sample {
	if it.done || it.cur != it.primary || it.curTyp != chunkenc.ValFloat {
		return dst
	}
	p, after, v := &it.replicas[it.primary], it.curT, it.lastV
	n := len(dst)
	// Passing the head and then not taking the next one changes nothing:
	// Next passes up to the current sample first, and that passes nothing
	// more.
	for p.passUntil(after); p.typ == chunkenc.ValFloat && p.t <= maxt; p.passUntil(after) {
		iv := smallerInterval(p.interval, it.othersInterval)
		if !continues(p.t, p.v, after, iv) || drops(p.v, v, it.counter && (it.hasLastV || len(dst) > n)) {
			break
		}
		dst = append(dst, floats.Sample{T: p.t, F: p.v})
		dst = p.appendRun(dst, maxt, it.othersInterval, it.counter)
		last := dst[len(dst)-1]
		after, v = last.T, last.F
	}
	if len(dst) > n {
		it.prevSrc, it.curT, it.curV = it.primary, after, v
		it.lastV, it.hasLastV, it.hasLastFH = v, true, false
	}
	return dst
}

// continues reports whether a float v at t may follow the sample returned
// at after without looking at other replicas: it is no NaN and comes no
// later than 1.5 scrape intervals iv after it.
func continues(t int64, v float64, after, iv int64) bool {
	return !math.IsNaN(v) && (iv == 0 || t-after <= iv*3/2)
}

// drops reports whether v reads lower than the counter's last value
// returned, lastV, where checked: the merge must then tell a reset from a
// replica read at another moment (see align).
func drops(v, lastV float64, checked bool) bool { return checked && v < lastV }

// next returns the first merged sample after time `after`.
func (it *iterator) next(after int64) chunkenc.ValueType {
	typ := it.merge(after)
	if !it.done {
		it.othersInterval = it.intervalExcept(it.primary)
	}
	return typ
}

// merge is next but for keeping othersInterval.
func (it *iterator) merge(after int64) chunkenc.ValueType {
	for {
		// Only the primary is read sample by sample; the others catch up
		// when the primary has a gap.
		it.replicas[it.primary].passUntil(after)
		c := it.choose(after)
		if c < 0 {
			it.done, it.curTyp = true, chunkenc.ValNone
			return chunkenc.ValNone
		}
		r := &it.replicas[c]
		if r.stale() && it.othersLive(c, after, r.t) {
			// One replica lost the target while another still scrapes it:
			// the series has not ended.
			r.step()
			continue
		}
		it.prevSrc, it.cur = it.cur, c
		it.curT, it.curTyp = r.t, r.typ
		it.hasLastV, it.hasLastFH = it.hasLastV && r.typ == chunkenc.ValFloat, false
		switch {
		case r.typ == chunkenc.ValFloat:
			it.curV = it.align(c, after, r.v)
		case r.isHistogram() && !r.stale() && r.histogram().CounterResetHint != histogram.GaugeType:
			// Keep the head decoded by stale() for comparing fills with;
			// the replica decodes its head again if it must.
			it.lastFH, r.fh = r.fh, it.lastFH
			it.hasLastFH, r.fhValid = true, false
		}
		return it.curTyp
	}
}

// choose picks the replica whose head is the next merged sample, or -1.
func (it *iterator) choose(after int64) int {
	p := &it.replicas[it.primary]
	interval := it.interval()
	if p.typ == chunkenc.ValNone {
		// The primary ended; the replica that goes on takes over, from a
		// sample that is not a near duplicate of the last one.
		for i := range it.replicas {
			if after != math.MinInt64 {
				it.replicas[i].catchUp(after+max(interval/2-1, 0), it.lookback())
			}
		}
		for {
			if it.primary = it.earliest(); it.primary < 0 {
				return -1
			}
			r := &it.replicas[it.primary]
			// A histogram counter that reads lower right after the move is
			// read at an earlier moment, not reset; a float counter's value
			// is held instead (see align).
			if after == math.MinInt64 || r.t-after >= interval || !it.histogramDrops(r) {
				return it.primary
			}
			r.step()
		}
	}
	if interval == 0 || after == math.MinInt64 || p.t-after <= interval*3/2 {
		return it.primary
	}
	// The primary has a gap: fill it with the earliest sample of another
	// replica that keeps half an interval from both sides of the gap.
	// Of several, take the one nearest to where the primary's next scrape
	// was due.
	margin, due := interval/2, after+interval
	best, bestDist := -1, int64(0)
	for i := range it.replicas {
		if i == it.primary {
			continue
		}
		r := &it.replicas[i]
		r.catchUp(after, it.lookback())
		for r.typ != chunkenc.ValNone && r.t <= p.t-margin && (r.t < after+margin || r.stale() || !it.histogramFits(r, p)) {
			r.step()
		}
		if r.typ == chunkenc.ValNone || r.t > p.t-margin {
			continue
		}
		if dist := abs(r.t - due); best < 0 || dist < bestDist {
			best, bestDist = i, dist
		}
	}
	if best < 0 {
		return it.primary
	}
	return best
}

// histogramFits reports whether replica r's head may fill the primary p's
// gap: always, unless both are histogram counters and the fill would add or
// hide a counter reset. A histogram cannot be held at the value before like
// a float (see align): one that another replica read at a different moment,
// or stamped with a skewed clock, is left out instead.
func (it *iterator) histogramFits(r, p *replica) bool {
	if !r.isHistogram() || !it.hasLastFH || r.histogram().CounterResetHint == histogram.GaugeType {
		return true
	}
	with, without := resets(r.histogram(), it.lastFH), 0
	if p.isHistogram() && !p.stale() {
		next := p.histogram()
		with += resets(next, r.histogram())
		without = resets(next, it.lastFH)
	}
	return with == without
}

// histogramDrops reports whether replica r's head is a histogram counter
// that reads lower than the last histogram returned.
func (it *iterator) histogramDrops(r *replica) bool {
	return r.isHistogram() && it.hasLastFH && !r.stale() &&
		r.histogram().CounterResetHint != histogram.GaugeType && resets(r.histogram(), it.lastFH) == 1
}

// resets is 1 if cur reads lower than prev as a counter, else 0. It ignores
// cur's hint: that compares with its own replica's previous sample.
func resets(cur, prev *histogram.FloatHistogram) int {
	hint := cur.CounterResetHint
	cur.CounterResetHint = histogram.UnknownCounterReset
	reset := cur.DetectReset(prev)
	cur.CounterResetHint = hint
	if reset {
		return 1
	}
	return 0
}

// lookback is how far before a gap a replica that catches up reads, to know
// its recent values and spacing.
func (it *iterator) lookback() int64 { return 2 * it.interval() }

// othersLive reports whether a replica other than c scraped the series
// successfully within 1.5 intervals after c's stale marker at t, so that the
// marker must not end the series. Samples of other replicas up to t are
// passed: the merge would not return them after c's head anyway.
func (it *iterator) othersLive(c int, after, t int64) bool {
	near := it.interval() * 3 / 2
	for i := range it.replicas {
		r := &it.replicas[i]
		if i == c {
			continue
		}
		r.catchUp(after, it.lookback())
		r.passUntil(t)
		if r.typ != chunkenc.ValNone && !r.stale() && r.t-t <= near {
			return true
		}
	}
	return false
}

// align returns the value to return for replica c's float head v and
// remembers it. For counters, a value lower than the last one returned is a
// reset only if replica c itself dropped since the last reset returned;
// otherwise the replicas just read the counter at different moments and the
// value is held at the last one. A filling value next to the primary's next
// reading is also held at or below it, so that going back to the primary is
// no drop.
func (it *iterator) align(c int, after int64, v float64) float64 {
	if math.IsNaN(v) {
		it.hasLastV = false
		return v
	}
	if it.counter && it.hasLastV {
		r := &it.replicas[c]
		switch {
		case v < it.lastV:
			if it.isReset(c, after, v) {
				it.lastResetT = r.t
			} else {
				v = it.lastV
			}
		case c != it.primary:
			// Only next to the primary's reading: across a long gap the
			// target may have restarted and counted past the last value.
			p := &it.replicas[it.primary]
			if p.typ == chunkenc.ValFloat && !p.stale() && p.t-r.t <= it.interval() && p.v >= it.lastV && v > p.v {
				v = p.v
			}
		}
	}
	it.lastV, it.hasLastV = v, true
	return v
}

// isReset reports whether replica c's head value v, lower than the last
// value returned, is a real counter reset.
func (it *iterator) isReset(c int, after int64, v float64) bool {
	r := &it.replicas[c]
	if r.hasPrev {
		return r.prevV > v && r.prevT >= it.lastResetT
	}
	// Replica c has no history here; believe the drop if another replica's
	// next reading shows it too, or if there is no other reading.
	seen := false
	for i := range it.replicas {
		o := &it.replicas[i]
		if i == c {
			continue
		}
		o.catchUp(after, it.lookback())
		if o.typ != chunkenc.ValFloat || o.stale() {
			continue
		}
		if o.v < it.lastV {
			return true
		}
		seen = true
	}
	return !seen
}

func (it *iterator) Seek(t millis) chunkenc.ValueType {
	if !it.started {
		it.start()
	}
	if it.done {
		return chunkenc.ValNone
	}
	if it.curTyp != chunkenc.ValNone && it.curT >= t {
		return it.curTyp
	}
	// Merged all the way, never jumped: where a merge that jumps starts
	// again decides which replica it follows from there, so the same
	// sample would read differently in selections that start elsewhere, as
	// a query over queries makes them (its leaves select from the start of
	// what they evaluate). Only the followed replica is read sample by
	// sample; the others catch up by seeking, at its gaps.
	after := int64(math.MinInt64)
	if it.curTyp != chunkenc.ValNone {
		after = it.curT
	}
	for {
		typ := it.next(after)
		if typ == chunkenc.ValNone || it.curT >= t {
			return typ
		}
		after = it.curT
	}
}

func (it *iterator) At() (int64, float64) { return it.curT, it.curV }

func (it *iterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	t, h := it.replicas[it.cur].it.AtHistogram(h)
	// The hint compares with the replica's previous sample, not with the
	// other replica's sample we returned before.
	forgetNotReset(&h.CounterResetHint, it.cur != it.prevSrc)
	return t, h
}

func (it *iterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	t, fh := it.replicas[it.cur].it.AtFloatHistogram(fh)
	forgetNotReset(&fh.CounterResetHint, it.cur != it.prevSrc)
	return t, fh
}

func (it *iterator) AtT() int64 { return it.curT }

func (it *iterator) Err() error {
	for i := range it.replicas {
		if err := it.replicas[i].it.Err(); err != nil {
			return err
		}
	}
	return nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
