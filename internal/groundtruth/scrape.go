package groundtruth

import (
	"math/rand/v2"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// scrape returns what replica r stored: a counter and a gauge series per
// target, sorted by labels.
func (d *Dataset) scrape(rng *rand.Rand, r int) []Series {
	cfg := d.Config
	interval := cfg.ScrapeInterval.Milliseconds()
	jitter := cfg.Jitter.Milliseconds()
	var offset, skew int64
	if r == ReplicaB {
		offset, skew = cfg.PhaseOffset.Milliseconds(), cfg.SkewB.Milliseconds()
	}
	var out []Series
	for _, tg := range d.Targets {
		counter := Series{Labels: withName(tg.Labels, CounterName)}
		gauge := Series{Labels: withName(tg.Labels, GaugeName)}
		for sched := d.Start + tg.Phase + offset; sched < d.End; sched += interval {
			at := sched
			if jitter > 0 {
				at += rng.Int64N(2*jitter+1) - jitter
			}
			missed := rng.Float64() < cfg.MissRate
			if missed || at < d.Start || at >= d.End || d.Down(r, at) {
				continue
			}
			counter.Samples = append(counter.Samples, Sample{T: at + skew, V: tg.Counter(at)})
			gauge.Samples = append(gauge.Samples, Sample{T: at + skew, V: tg.Gauge(at)})
		}
		out = append(out, counter, gauge)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out
}

func withName(lset labels.Labels, name string) labels.Labels {
	b := labels.NewBuilder(lset)
	b.Set(model.MetricNameLabel, name)
	return b.Labels()
}
