package dedup_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

const (
	rateRange = time.Minute
	rateStep  = 15 * time.Second
)

// replicaSeries returns each replica's series as the query layer builds
// them: from XOR chunks.
func replicaSeries(tb testing.TB, ds *groundtruth.Dataset, replicas ...int) [][]storage.Series {
	var out [][]storage.Series
	for _, r := range replicas {
		var rs []storage.Series
		for _, s := range ds.Replicas[r].Series {
			rs = append(rs, dedup.NewChunkSeries(s.Labels, xorChunks(tb, s.Samples)))
		}
		out = append(out, rs)
	}
	return out
}

func passThrough(set storage.SeriesSet, _ *storage.SelectHints) storage.SeriesSet { return set }

func TestRateAgainstGroundTruth(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			cfg := groundtruth.DefaultConfig()
			cfg.Seed = seed
			ds, err := groundtruth.Generate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			testRateAgainstGroundTruth(t, ds)
		})
	}
}

func testRateAgainstGroundTruth(t *testing.T, ds *groundtruth.Dataset) {
	views := []struct {
		name     string
		replicas []int
		merge    func(storage.SeriesSet, *storage.SelectHints) storage.SeriesSet
	}{
		{"replica a alone", []int{groundtruth.ReplicaA}, passThrough},
		{"replica b alone", []int{groundtruth.ReplicaB}, passThrough},
		{"naive interleave", []int{groundtruth.ReplicaA, groundtruth.ReplicaB}, naiveMerge(t)},
		{"tandem dedup", []int{groundtruth.ReplicaA, groundtruth.ReplicaB}, dedup.NewSeriesSet},
	}
	results := map[string]groundtruth.Accuracy{}
	for _, v := range views {
		q := &replicaQueryable{replicas: replicaSeries(t, ds, v.replicas...), merge: v.merge}
		acc := measureRate(t, ds, q)
		results[v.name] = acc
		t.Logf("%-17s points=%d missing=%d off>50%%=%d p99=%.4f", v.name, acc.Points, acc.Missing, acc.Off50, acc.P99)
	}
	single := min(results["replica a alone"].Off50, results["replica b alone"].Off50)
	got := results["tandem dedup"]
	if got.Off50 > single/10 {
		t.Errorf("dedup has %d points off by >50%%, want at most a tenth of one replica alone's %d", got.Off50, single)
	}
	if got.P99 > 0.10 {
		t.Errorf("dedup p99 relative error %.4f, want at most 0.10", got.P99)
	}
	if got.Missing > 0 {
		t.Errorf("dedup has no result at %d points where a replica had data", got.Missing)
	}
}

// measureRate evaluates rate() with the PromQL engine over q at every step
// of the dataset and compares it with the true average rate over each
// window (set DEDUP_LOG_OFF_POINTS=1 to log each point off by more than
// 50%).
func measureRate(tb testing.TB, ds *groundtruth.Dataset, q storage.Queryable) groundtruth.Accuracy {
	tb.Helper()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	ctx := context.Background()
	start, end := time.UnixMilli(ds.Start), time.UnixMilli(ds.End)
	query, err := engine.NewRangeQuery(ctx, q, nil, "rate("+groundtruth.CounterName+"[1m])", start, end, rateStep)
	if err != nil {
		tb.Fatal(err)
	}
	defer query.Close()
	res := query.Exec(ctx)
	if res.Err != nil {
		tb.Fatal(res.Err)
	}
	matrix, err := res.Matrix()
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string][]groundtruth.Sample{}
	for _, s := range matrix {
		instance := s.Metric.Get("instance")
		for _, p := range s.Floats {
			got[instance] = append(got[instance], groundtruth.Sample{T: p.T, V: p.F})
		}
	}
	acc := ds.RateAccuracy(got, rateRange, rateStep)
	if os.Getenv("DEDUP_LOG_OFF_POINTS") != "" {
		for _, p := range acc.Off {
			tb.Logf("off: %s +%ds got=%v missing=%v want=%v", p.Instance, (p.T-ds.Start)/1000, p.Got, p.Missing, p.Want)
		}
	}
	return acc
}

// naiveSeriesSet interleaves all replicas' samples, dropping only exact
// duplicate timestamps: what merging without dedup logic gives.
type naiveSeriesSet struct {
	tb      testing.TB
	set     storage.SeriesSet
	peek    storage.Series
	hasPeek bool
	started bool
	cur     storage.Series
}

func naiveMerge(tb testing.TB) func(storage.SeriesSet, *storage.SelectHints) storage.SeriesSet {
	return func(set storage.SeriesSet, _ *storage.SelectHints) storage.SeriesSet {
		return &naiveSeriesSet{tb: tb, set: set}
	}
}

func (s *naiveSeriesSet) Next() bool {
	if !s.started {
		s.started = true
		if s.hasPeek = s.set.Next(); s.hasPeek {
			s.peek = s.set.At()
		}
	}
	if !s.hasPeek {
		return false
	}
	lset := s.peek.Labels()
	all := floatSamples(s.tb, s.peek.Iterator(nil))
	s.hasPeek = false
	for s.set.Next() {
		next := s.set.At()
		if !labels.Equal(next.Labels(), lset) {
			s.peek, s.hasPeek = next, true
			break
		}
		all = append(all, floatSamples(s.tb, next.Iterator(nil))...)
	}
	slices.SortStableFunc(all, func(a, b groundtruth.Sample) int { return int(a.T - b.T) })
	all = slices.CompactFunc(all, func(a, b groundtruth.Sample) bool { return a.T == b.T })
	s.cur = dedup.NewChunkSeries(lset, xorChunks(s.tb, all))
	return true
}

func (s *naiveSeriesSet) At() storage.Series                { return s.cur }
func (s *naiveSeriesSet) Err() error                        { return s.set.Err() }
func (s *naiveSeriesSet) Warnings() annotations.Annotations { return s.set.Warnings() }
