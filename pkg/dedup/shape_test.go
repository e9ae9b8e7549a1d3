package dedup_test

import (
	"testing"

	"github.com/prometheus/prometheus/storage"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// TestMergeShapeOnGroundTruth checks the merged series' samples themselves:
// sorted, no near-duplicates, no holes that a replica could fill, nothing at
// a time no replica scraped or while both replicas were down, no false
// counter resets and (for gauges) only values some replica read.
func TestMergeShapeOnGroundTruth(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		cfg := groundtruth.DefaultConfig()
		cfg.Seed = seed
		ds, err := groundtruth.Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, hints := range []*storage.SelectHints{nil, {Func: "rate"}} {
			q := &replicaQueryable{replicas: replicaSeries(t, ds, groundtruth.ReplicaA, groundtruth.ReplicaB), merge: dedup.NewSeriesSet}
			set := q.Select(t.Context(), true, hints)
			n := 0
			for set.Next() {
				n++
				lset := set.At().Labels()
				sh := ds.Shape(lset, floatSamples(t, set.At().Iterator(nil)))
				// With no function hint, a gauge is read as a gauge.
				for _, f := range sh.Faults(hints == nil) {
					t.Errorf("seed %d, hints %v: %s: %s", seed, hints, lset, f)
				}
			}
			if n != 2*len(ds.Targets) {
				t.Fatalf("got %d merged series, want %d", n, 2*len(ds.Targets))
			}
		}
	}
}
