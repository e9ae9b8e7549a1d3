package groundtruth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
)

// Target is one scraped target and the exact functions of time it exposes.
type Target struct {
	// Labels identify the target (job, instance), without metric name.
	Labels labels.Labels
	// Phase is when, within each scrape interval, replica A scrapes it (ms).
	Phase int64

	start int64
	// The counter's true rate is rates[i] per second from changes[i] until
	// changes[i+1]; changes[0] is the dataset start.
	changes []int64
	rates   []float64
	// Restarts are the times the target restarted: its counter starts again
	// from zero. Sorted.
	Restarts []int64
	base     float64 // counter value at start

	gaugeMean, gaugeAmp, gaugePeriod, gaugePhase float64
}

func newTarget(rng *rand.Rand, i int, start, end int64, cfg Config) *Target {
	t := &Target{
		Labels: labels.FromStrings("instance", fmt.Sprintf("target-%02d:9100", i), "job", "groundtruth"),
		Phase:  rng.Int64N(cfg.ScrapeInterval.Milliseconds()),
		start:  start,
		base:   math.Round(rng.Float64() * 1e6),
	}
	for c := start; c < end; c += (10 + rng.Int64N(30)) * 60_000 {
		t.changes = append(t.changes, c)
		// Rates from a slow 0.1/s to a busy 100/s, log-uniform.
		t.rates = append(t.rates, math.Pow(10, -1+3*rng.Float64()))
	}
	for range cfg.RestartsPerTarget {
		// Keep restarts away from the span's edges.
		t.Restarts = append(t.Restarts, start+(end-start)/20+rng.Int64N((end-start)*9/10))
	}
	sort.Slice(t.Restarts, func(a, b int) bool { return t.Restarts[a] < t.Restarts[b] })
	t.gaugeMean = 20 + 30*rng.Float64()
	t.gaugeAmp = 1 + 10*rng.Float64()
	t.gaugePeriod = float64((20 + rng.Int64N(100)) * 60_000)
	t.gaugePhase = 2 * math.Pi * rng.Float64()
	return t
}

// Rate is the true instantaneous rate of the counter at t, per second.
func (t *Target) Rate(at int64) float64 {
	i := sort.Search(len(t.changes), func(i int) bool { return t.changes[i] > at }) - 1
	return t.rates[max(i, 0)]
}

// RateChanges are the times the counter's true rate changes, sorted: the
// boundaries of its constant-rate segments. Rate estimates from samples are
// only exact within a segment.
func (t *Target) RateChanges() []int64 { return slices.Clone(t.changes[1:]) }

// Counter is the true counter value at t.
func (t *Target) Counter(at int64) float64 {
	from, v := t.start, t.base
	if r := t.lastRestart(at); r >= 0 {
		from, v = r, 0
	}
	return v + t.integral(from, at)
}

// AverageRate is the exact average rate per second over (from, to], the
// quantity rate() estimates. ok is false if the target restarted in between.
func (t *Target) AverageRate(from, to int64) (rate float64, ok bool) {
	if to <= from || t.lastRestart(to) != t.lastRestart(from) {
		return 0, false
	}
	return t.integral(from, to) / (float64(to-from) / 1000), true
}

// Gauge is the true gauge value at t: a smooth function of time.
func (t *Target) Gauge(at int64) float64 {
	return t.gaugeMean + t.gaugeAmp*math.Sin(2*math.Pi*float64(at-t.start)/t.gaugePeriod+t.gaugePhase)
}

// lastRestart is the last restart at or before t, or -1.
func (t *Target) lastRestart(at int64) int64 {
	i := sort.Search(len(t.Restarts), func(i int) bool { return t.Restarts[i] > at }) - 1
	if i < 0 {
		return -1
	}
	return t.Restarts[i]
}

// restartsIn counts the restarts in (from, to].
func (t *Target) restartsIn(from, to int64) int {
	n := 0
	for _, r := range t.Restarts {
		if r > from && r <= to {
			n++
		}
	}
	return n
}

// integral is the counter increase over [from, to] assuming no restart.
func (t *Target) integral(from, to int64) float64 {
	var sum float64
	for i, c := range t.changes {
		segEnd := int64(math.MaxInt64)
		if i+1 < len(t.changes) {
			segEnd = t.changes[i+1]
		}
		lo, hi := max(from, c), min(to, segEnd)
		if hi > lo {
			sum += t.rates[i] * float64(hi-lo) / 1000
		}
	}
	return sum
}
