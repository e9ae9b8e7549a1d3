package dedup_test

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// TestMergeShapeOnGroundTruth checks the merged series' samples themselves:
// no duplicates, no near-duplicates, no holes that a replica could fill,
// nothing where both replicas were down, and (for gauges) only values some
// replica read.
func TestMergeShapeOnGroundTruth(t *testing.T) {
	ds, err := groundtruth.Generate(groundtruth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ds.Config
	interval := ds.Interval()
	jitter := cfg.Jitter.Milliseconds()
	maxSpacing := interval*3/2 + 2*jitter
	minSpacing := interval/2 - 2*jitter

	for _, hints := range []*storage.SelectHints{nil, {Func: "rate"}} {
		q := &replicaQueryable{replicas: replicaSeries(t, ds, groundtruth.ReplicaA, groundtruth.ReplicaB), merge: dedup.NewSeriesSet}
		set := q.Select(t.Context(), true, hints)
		n := 0
		for set.Next() {
			n++
			lset := set.At().Labels()
			raw := rawSamples(ds, lset)
			got := floatSamples(t, set.At().Iterator(nil))
			// With no function hint, a gauge is read as a gauge: values are kept.
			isGauge := hints == nil && lset.Get(labels.MetricName) == groundtruth.GaugeName
			holes, near, drops := 0, 0, 0
			for i, smpl := range got {
				if isGauge && !contains(raw, smpl) {
					t.Errorf("%s: sample %v read by no replica", lset, smpl)
				}
				if smpl.T >= ds.BothDown.Start+cfg.SkewB.Milliseconds() && smpl.T < ds.BothDown.End {
					t.Errorf("%s: sample %v while both replicas were down", lset, smpl)
				}
				if i == 0 {
					continue
				}
				prev := got[i-1]
				if smpl.T <= prev.T {
					t.Fatalf("%s: timestamps not strictly increasing: %v then %v", lset, prev, smpl)
				}
				if smpl.V < prev.V {
					drops++
				}
				if smpl.T-prev.T < minSpacing {
					near++
				}
				if smpl.T-prev.T > maxSpacing && rawBetween(raw, prev.T+minSpacing, smpl.T-minSpacing) {
					holes++
					t.Errorf("%s: hole from %d to %d though a replica has data in it", lset, prev.T, smpl.T)
				}
			}
			if near > 0 {
				t.Errorf("%s: %d near-duplicate samples less than %d ms apart", lset, near, minSpacing)
			}
			if lset.Get(labels.MetricName) == groundtruth.CounterName {
				// Every restart is one drop; a drop anywhere else is a false
				// counter reset.
				if want := len(targetOf(ds, lset).Restarts); drops != want {
					t.Errorf("%s: counter drops %d times, the target restarted %d times", lset, drops, want)
				}
			}
			if holes > 3 {
				t.FailNow()
			}
		}
		if n != 2*len(ds.Targets) {
			t.Fatalf("got %d merged series, want %d", n, 2*len(ds.Targets))
		}
	}
}

// rawSamples returns every replica's samples of a series.
func rawSamples(ds *groundtruth.Dataset, lset labels.Labels) [][]groundtruth.Sample {
	var out [][]groundtruth.Sample
	for _, r := range ds.Replicas {
		for _, s := range r.Series {
			if labels.Equal(s.Labels, lset) {
				out = append(out, s.Samples)
			}
		}
	}
	return out
}

func contains(raw [][]groundtruth.Sample, smpl groundtruth.Sample) bool {
	for _, samples := range raw {
		for _, s := range samples {
			if s == smpl {
				return true
			}
		}
	}
	return false
}

// rawBetween reports whether any replica has a sample strictly between
// from and to. Callers leave out samples so close to a merged one that
// taking them would make a near-duplicate.
func rawBetween(raw [][]groundtruth.Sample, from, to int64) bool {
	for _, samples := range raw {
		for _, s := range samples {
			if s.T > from && s.T < to {
				return true
			}
		}
	}
	return false
}

func targetOf(ds *groundtruth.Dataset, lset labels.Labels) *groundtruth.Target {
	for _, tg := range ds.Targets {
		if tg.Labels.Get("instance") == lset.Get("instance") {
			return tg
		}
	}
	return nil
}
