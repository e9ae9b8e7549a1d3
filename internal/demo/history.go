package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// replicaNames are the values of the replica external label, in order.
var replicaNames = [2]string{"r0", "r1"}

// History says what past the two replicas have: the span, how often they
// scraped, and the random parts (jitter, missed scrapes).
type History struct {
	End      time.Time
	Length   time.Duration
	Interval time.Duration
	Seed     uint64
	// MissRate is the probability that a replica misses one scrape of one
	// target.
	MissRate float64
}

// Outage is a window in which one replica scraped nothing.
type Outage struct {
	Replica    string
	Start, End time.Time
}

// Start is the time of the oldest sample.
func (h History) Start() time.Time { return h.End.Add(-h.Length) }

// Outages places the replicas' outages so that they never overlap: r0 is
// down for 40 min of every 6 h of history a quarter of the way in, r1 for
// 25 min at three fifths. They scale with the history, so a short one still
// has a gap in each replica.
func (h History) Outages() []Outage {
	at := func(replica string, from float64, share float64) Outage {
		start := h.Start().Add(time.Duration(from * float64(h.Length))).Truncate(time.Second)
		return Outage{Replica: replica, Start: start, End: start.Add(time.Duration(share * float64(h.Length))).Truncate(time.Second)}
	}
	return []Outage{
		at(replicaNames[0], 0.25, 40.0/360),
		at(replicaNames[1], 0.60, 25.0/360),
	}
}

func (h History) validate() error {
	switch {
	case h.Length < 10*time.Minute:
		return fmt.Errorf("history must be at least 10m long, got %v", h.Length)
	case h.Interval < time.Second || h.Interval > h.Length/10:
		return fmt.Errorf("scrape interval %v does not fit %v of history", h.Interval, h.Length)
	case h.MissRate < 0 || h.MissRate >= 0.5:
		return fmt.Errorf("miss rate must be in [0, 0.5), got %v", h.MissRate)
	}
	return nil
}

// target is one scraped application instance. Its counters follow a rate
// that swings around a mean, so graphs have shape, and have a closed-form
// integral, so both replicas read the same truth at their own scrape times.
type target struct {
	instance string
	load     float64 // requests per second at the mean
	phase    float64 // of the load swing, in radians
	// buckets are the shares of requests at most as slow as the matching
	// le bound; this instance's latency profile.
	buckets []float64
	latency float64 // mean seconds per request, for _sum
	memory  float64 // mean bytes in use
}

// le are the histogram bucket bounds, +Inf last.
var le = []string{"0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}

// codes share the requests of a target.
var codes = []struct {
	code  string
	share float64
}{{"200", 0.93}, {"404", 0.05}, {"500", 0.02}}

// cpuModes share one core-second per second of load.
var cpuModes = []struct {
	mode  string
	share float64
}{{"user", 0.004}, {"system", 0.0015}}

const loadPeriod = 90 * time.Minute

func newTargets() []target {
	return []target{
		{instance: "app-0:8080", load: 40, phase: 0, buckets: []float64{0.35, 0.6, 0.85, 0.95, 0.99, 0.998, 1}, latency: 0.12, memory: 310e6},
		{instance: "app-1:8080", load: 25, phase: 2, buckets: []float64{0.1, 0.3, 0.6, 0.85, 0.96, 0.99, 1}, latency: 0.31, memory: 520e6},
		{instance: "app-2:8080", load: 60, phase: 4, buckets: []float64{0.4, 0.7, 0.9, 0.97, 0.995, 0.999, 1}, latency: 0.09, memory: 270e6},
	}
}

// requests is the number of requests the target served from origin to t:
// the integral of load*(1 + 0.4*sin(w*s + phase)).
func (tg target) requests(origin, at time.Time) float64 {
	s := at.Sub(origin).Seconds()
	w := 2 * math.Pi / loadPeriod.Seconds()
	return tg.load * (s - 0.4/w*(math.Cos(w*s+tg.phase)-math.Cos(tg.phase)))
}

// memoryAt is the gauge: a slow swing around the target's mean.
func (tg target) memoryAt(origin, at time.Time) float64 {
	s := at.Sub(origin).Seconds()
	return math.Round(tg.memory * (1 + 0.15*math.Sin(2*math.Pi*s/(2*loadPeriod.Seconds())+tg.phase)))
}

// series is one series of one replica. The external labels cluster and
// replica are not in the data: each replica's Prometheus config adds them.
type series struct {
	name    string // as written in OpenMetrics, suffix included
	labels  []string
	samples []sample
}

func newSeries(name string, labels ...string) *series {
	return &series{name: name, labels: labels}
}

func (s *series) add(t time.Time, v float64) { s.samples = append(s.samples, sample{t, v}) }

type sample struct {
	t time.Time
	v float64
}

// family is a metric family in the order OpenMetrics writes it.
type family struct {
	name, typ string
	series    []*series
}

// generate returns what one replica stored: every target scraped every
// interval at the replica's own phase, with jitter, skipping missed scrapes
// and the replica's outages.
func (h History) generate(replica int) []family {
	rng := rand.New(rand.NewPCG(h.Seed, uint64(replica)))
	origin := h.Start()
	var down []Outage
	for _, o := range h.Outages() {
		if o.Replica == replicaNames[replica] {
			down = append(down, o)
		}
	}
	requests := family{name: "demo_http_requests", typ: "counter"}
	cpu := family{name: "demo_cpu_seconds", typ: "counter"}
	memory := family{name: "demo_memory_usage_bytes", typ: "gauge"}
	duration := family{name: "demo_http_request_duration_seconds", typ: "histogram"}

	targets := newTargets()
	for i, tg := range targets {
		job, inst := []string{"job", "demo"}, []string{"instance", tg.instance}
		lbls := func(extra ...string) []string { return append(append(append([]string{}, extra...), inst...), job...) }
		reqs := make([]*series, len(codes))
		for c, code := range codes {
			reqs[c] = newSeries(requests.name+"_total", lbls("code", code.code)...)
		}
		modes := make([]*series, len(cpuModes))
		for m, mode := range cpuModes {
			modes[m] = newSeries(cpu.name+"_total", lbls("mode", mode.mode)...)
		}
		mem := newSeries(memory.name, lbls()...)
		buckets := make([]*series, len(le))
		for b, bound := range le {
			buckets[b] = newSeries(duration.name+"_bucket", lbls("le", bound)...)
		}
		count, sum := newSeries(duration.name+"_count", lbls()...), newSeries(duration.name+"_sum", lbls()...)

		// Replicas scrape the same target at different moments.
		phase := time.Duration(i)*h.Interval/time.Duration(len(targets)) + time.Duration(replica)*h.Interval*7/15
		for at := origin.Add(phase % h.Interval); !at.After(h.End); at = at.Add(h.Interval) {
			t := at.Add(time.Duration(rng.Int64N(401)-200) * time.Millisecond)
			if rng.Float64() < h.MissRate || t.Before(origin) || t.After(h.End) || isDown(down, t) {
				continue
			}
			total := tg.requests(origin, t)
			for c, code := range codes {
				reqs[c].add(t, math.Floor(total*code.share))
			}
			for m, mode := range cpuModes {
				modes[m].add(t, math.Round(total*mode.share*1000)/1000)
			}
			mem.add(t, tg.memoryAt(origin, t))
			for b := range le {
				buckets[b].add(t, math.Floor(total*tg.buckets[b]))
			}
			count.add(t, math.Floor(total))
			sum.add(t, math.Round(total*tg.latency*1000)/1000)
		}
		requests.series = append(requests.series, reqs...)
		cpu.series = append(cpu.series, modes...)
		memory.series = append(memory.series, mem)
		duration.series = append(append(duration.series, buckets...), count, sum)
	}
	return []family{requests, cpu, memory, duration}
}

func isDown(down []Outage, t time.Time) bool {
	for _, o := range down {
		if !t.Before(o.Start) && t.Before(o.End) {
			return true
		}
	}
	return false
}
