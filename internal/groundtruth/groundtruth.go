// Package groundtruth generates deterministic Prometheus HA-pair data whose
// true values are known exactly, so that deduplication can be measured
// against the truth rather than against another implementation.
//
// Each target exposes a counter with a piecewise-constant true rate (so the
// true rate over any window is exact) and a gauge that is a smooth function of
// time. Two replicas scrape every target with a phase offset, jitter, random
// missed scrapes, outages and, on replica B, a clock skew. Targets restart,
// resetting their counters, and every replica sees the restart.
package groundtruth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Metric names of the generated families.
const (
	CounterName = "tandem_gt_requests_total"
	GaugeName   = "tandem_gt_temperature_celsius"
)

// Replica indexes into Dataset.Replicas.
const (
	ReplicaA = 0
	ReplicaB = 1
)

// Config describes what to generate. Durations are wall-clock; all timestamps
// produced are Unix milliseconds.
type Config struct {
	Seed     uint64
	Start    time.Time
	Duration time.Duration
	Targets  int

	ScrapeInterval time.Duration
	// PhaseOffset is how much later than replica A replica B scrapes a target.
	PhaseOffset time.Duration
	// Jitter is the maximum absolute deviation of a scrape from its schedule.
	Jitter time.Duration
	// MissRate is the probability that a replica misses any one scrape.
	MissRate float64
	// SkewB is added to the timestamps replica B records: its clock is off.
	SkewB time.Duration

	// Outage lengths. Their positions in the span are derived from the seed
	// and never overlap each other.
	OutageA, OutageB, OutageBoth time.Duration
	// RestartsPerTarget is the number of target restarts (counter resets).
	RestartsPerTarget int
}

// DefaultConfig is 6 h of 36 targets with the outages, skew and misses that
// make deduplication hard.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		Start:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Duration:          6 * time.Hour,
		Targets:           36,
		ScrapeInterval:    15 * time.Second,
		PhaseOffset:       13 * time.Second, // B scrapes 2 s before A's next scrape...
		Jitter:            500 * time.Millisecond,
		MissRate:          0.03,
		SkewB:             3 * time.Second, // ...but records it 1 s after: naive merges go backwards.
		OutageA:           20 * time.Minute,
		OutageB:           5 * time.Minute,
		OutageBoth:        2 * time.Minute,
		RestartsPerTarget: 2,
	}
}

// Window is a half-open time range [Start, End) in Unix milliseconds.
type Window struct{ Start, End int64 }

// Contains reports whether t lies in the window.
func (w Window) Contains(t int64) bool { return t >= w.Start && t < w.End }

// Sample is one scraped value at its recorded timestamp.
type Sample struct {
	T int64
	V float64
}

// Series is one replica's copy of one series. Labels carry no replica label.
type Series struct {
	Labels  labels.Labels
	Samples []Sample
}

// Replica is everything one Prometheus replica stored.
type Replica struct {
	// Name is the value of the replica label, "a" or "b".
	Name   string
	Series []Series // sorted by labels
	// Down holds the windows (true time) in which the replica scraped nothing.
	Down []Window
}

// Dataset is a generated data set with its ground truth.
type Dataset struct {
	Config   Config
	Start    int64 // Unix ms
	End      int64 // Unix ms, exclusive
	Targets  []*Target
	Replicas [2]Replica
	// BothDown is the window in which neither replica scraped.
	BothDown Window
}

// Generate builds a dataset. Equal configs give identical datasets.
func Generate(cfg Config) (*Dataset, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid ground truth config: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7a4d3e))
	d := &Dataset{
		Config: cfg,
		Start:  cfg.Start.UnixMilli(),
		End:    cfg.Start.Add(cfg.Duration).UnixMilli(),
	}
	for i := range cfg.Targets {
		d.Targets = append(d.Targets, newTarget(rng, i, d.Start, d.End, cfg))
	}
	outages := placeOutages(rng, d.Start, d.End, cfg.OutageA, cfg.OutageB, cfg.OutageBoth)
	d.BothDown = outages[2]
	d.Replicas[ReplicaA] = Replica{Name: "a", Down: []Window{outages[0], outages[2]}}
	d.Replicas[ReplicaB] = Replica{Name: "b", Down: []Window{outages[1], outages[2]}}
	for r := range d.Replicas {
		d.Replicas[r].Series = d.scrape(rng, r)
	}
	return d, nil
}

func (cfg Config) validate() error {
	switch {
	case cfg.Duration <= 0 || cfg.Targets <= 0:
		return fmt.Errorf("need a positive duration and target count, got %v and %d", cfg.Duration, cfg.Targets)
	case cfg.ScrapeInterval <= 0:
		return fmt.Errorf("scrape interval must be positive, got %v", cfg.ScrapeInterval)
	case 2*cfg.Jitter >= cfg.ScrapeInterval:
		return fmt.Errorf("jitter %v too large for scrape interval %v", cfg.Jitter, cfg.ScrapeInterval)
	case cfg.MissRate < 0 || cfg.MissRate >= 1:
		return fmt.Errorf("miss rate must be in [0, 1), got %v", cfg.MissRate)
	case cfg.OutageA+cfg.OutageB+cfg.OutageBoth > cfg.Duration/2:
		return fmt.Errorf("outages take more than half of the %v span", cfg.Duration)
	}
	return nil
}

// placeOutages puts the outages, in a seed-dependent order, in separate
// thirds of the span and away from their edges, so that none overlaps
// another or the span's ends.
func placeOutages(rng *rand.Rand, start, end int64, lengths ...time.Duration) []Window {
	part := (end - start) / int64(len(lengths))
	slots := rng.Perm(len(lengths))
	ws := make([]Window, len(lengths))
	for i, l := range lengths {
		lo := start + int64(slots[i])*part + part/10
		s := lo
		if room := part*8/10 - l.Milliseconds(); room > 0 {
			s += rng.Int64N(room)
		}
		ws[i] = Window{Start: s, End: s + l.Milliseconds()}
	}
	return ws
}

// Down reports whether replica r was down at true time t.
func (d *Dataset) Down(r int, t int64) bool {
	for _, w := range d.Replicas[r].Down {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Interval is the scrape interval in milliseconds.
func (d *Dataset) Interval() int64 { return d.Config.ScrapeInterval.Milliseconds() }
