package groundtruth

import (
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Accuracy is how well a rate() result matches the true rate.
type Accuracy struct {
	Points  int     // evaluated points away from segment boundaries
	Missing int     // of them, points with no result
	Off50   int     // points off by more than 50%, missing ones included
	P99     float64 // 99th percentile relative error, missing ones as 1
	// Off lists the points off by more than 50%, to look into.
	Off []OffPoint
}

// OffPoint is one rate() result off by more than 50%.
type OffPoint struct {
	Instance  string
	T         int64
	Got, Want float64
	Missing   bool
}

// RateAccuracy compares the results of rate(CounterName[window]) evaluated
// every step from the dataset's start with the true average rate over each
// window. got maps a target's instance label to its result series.
//
// Only points whose window lies within one constant-rate segment of the
// target, away from restarts and from the edges of outages (by a scrape
// interval, for jitter and skew), are judged: elsewhere no sample-based
// estimate can be exact. Points where no replica has two samples in the
// window are left out too, as no merge can give a rate there, and none
// should.
func (d *Dataset) RateAccuracy(got map[string][]Sample, window, step time.Duration) Accuracy {
	var acc Accuracy
	var errs []float64
	w, st := window.Milliseconds(), step.Milliseconds()
	edges := d.outageEdges()
	for _, tg := range d.Targets {
		instance := tg.Labels.Get("instance")
		byT := make(map[int64]float64, len(got[instance]))
		for _, p := range got[instance] {
			byT[p.T] = p.V
		}
		boundaries := slices.Concat(tg.Restarts, tg.RateChanges(), edges)
		scraped := d.scrapeTimes(tg)
		for ts := d.Start + w + st; ts < d.End; ts += st {
			if nearAny(ts, boundaries, w+d.Interval()) || d.BothDown.Contains(ts) || countIn(scraped, ts-w, ts) < 2 {
				continue
			}
			want, ok := tg.AverageRate(ts-w, ts)
			if !ok {
				continue
			}
			acc.Points++
			v, ok := byT[ts]
			relErr := 1.0
			if ok {
				relErr = math.Abs(v-want) / want
			} else {
				acc.Missing++
			}
			if relErr > 0.5 {
				acc.Off50++
				acc.Off = append(acc.Off, OffPoint{Instance: instance, T: ts, Got: v, Want: want, Missing: !ok})
			}
			errs = append(errs, relErr)
		}
	}
	slices.Sort(errs)
	if len(errs) > 0 {
		acc.P99 = errs[len(errs)*99/100]
	}
	return acc
}

// scrapeTimes returns the sorted timestamps of the target's counter samples
// in all replicas.
func (d *Dataset) scrapeTimes(tg *Target) []int64 {
	var ts []int64
	for _, samples := range d.Raw(withName(tg.Labels, CounterName)) {
		for _, s := range samples {
			ts = append(ts, s.T)
		}
	}
	slices.Sort(ts)
	return ts
}

// Raw returns every replica's samples of the series with labels lset (no
// replica label), one slice per replica that has it.
func (d *Dataset) Raw(lset labels.Labels) [][]Sample {
	var out [][]Sample
	for _, r := range d.Replicas {
		i, ok := slices.BinarySearchFunc(r.Series, lset, func(s Series, l labels.Labels) int {
			return labels.Compare(s.Labels, l)
		})
		if ok {
			out = append(out, r.Series[i].Samples)
		}
	}
	return out
}

func (d *Dataset) outageEdges() []int64 {
	var edges []int64
	for _, r := range d.Replicas {
		for _, w := range r.Down {
			edges = append(edges, w.Start, w.End)
		}
	}
	return edges
}

// countIn counts the sorted timestamps in (from, to].
func countIn(ts []int64, from, to int64) int {
	lo, _ := slices.BinarySearch(ts, from+1)
	hi, _ := slices.BinarySearch(ts, to+1)
	return hi - lo
}

func nearAny(t int64, points []int64, within int64) bool {
	for _, p := range points {
		if t >= p-within && t <= p+within {
			return true
		}
	}
	return false
}
