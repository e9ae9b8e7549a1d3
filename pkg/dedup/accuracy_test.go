package dedup_test

import (
	"context"
	"fmt"
	"math"
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

// rateAccuracy is how well rate() over a merged view matches the true rate.
type rateAccuracy struct {
	points  int     // evaluated points away from segment boundaries
	missing int     // of them, points with no result
	off50   int     // points off by more than 50%, missing ones included
	p99     float64 // 99th percentile relative error, missing ones as 1
}

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
	results := map[string]rateAccuracy{}
	for _, v := range views {
		q := &replicaQueryable{replicas: replicaSeries(t, ds, v.replicas...), merge: v.merge}
		acc := measureRate(t, ds, q)
		results[v.name] = acc
		t.Logf("%-17s points=%d missing=%d off>50%%=%d p99=%.4f", v.name, acc.points, acc.missing, acc.off50, acc.p99)
	}
	single := min(results["replica a alone"].off50, results["replica b alone"].off50)
	got := results["tandem dedup"]
	if got.off50 > single/10 {
		t.Errorf("dedup has %d points off by >50%%, want at most a tenth of one replica alone's %d", got.off50, single)
	}
	if got.p99 > 0.10 {
		t.Errorf("dedup p99 relative error %.4f, want at most 0.10", got.p99)
	}
	if got.missing > 0 {
		t.Errorf("dedup has no result at %d points where a replica had data", got.missing)
	}
}

// measureRate evaluates rate() with the PromQL engine over q at every step
// (set DEDUP_LOG_OFF_POINTS=1 to log each point off by more than 50%)
// of the dataset and compares it with the true average rate over each
// window, away from restarts and outage edges.
func measureRate(tb testing.TB, ds *groundtruth.Dataset, q storage.Queryable) rateAccuracy {
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
	byInstance := map[string]promql.Series{}
	for _, s := range matrix {
		byInstance[s.Metric.Get("instance")] = s
	}

	var acc rateAccuracy
	var errs []float64
	window, step := rateRange.Milliseconds(), rateStep.Milliseconds()
	for _, tg := range ds.Targets {
		got := map[int64]float64{}
		for _, p := range byInstance[tg.Labels.Get("instance")].Floats {
			got[p.T] = p.F
		}
		boundaries := slices.Concat(tg.Restarts, tg.RateChanges(), outageEdges(ds))
		scraped := scrapeTimes(ds, tg)
		for ts := ds.Start + window + step; ts < ds.End; ts += step {
			if nearAny(ts, boundaries, window+ds.Interval()) || ds.BothDown.Contains(ts) {
				continue
			}
			if countIn(scraped, ts-window, ts) < 2 {
				// No replica has two samples in the window: no merge can
				// give a rate here, and none should.
				continue
			}
			want, ok := tg.AverageRate(ts-window, ts)
			if !ok {
				continue
			}
			acc.points++
			v, ok := got[ts]
			relErr := 1.0
			if ok {
				relErr = math.Abs(v-want) / want
			} else {
				acc.missing++
			}
			if relErr > 0.5 {
				if os.Getenv("DEDUP_LOG_OFF_POINTS") != "" {
					tb.Logf("off: %s +%ds got=%v ok=%v want=%v", tg.Labels.Get("instance"), (ts-ds.Start)/1000, v, ok, want)
				}
				acc.off50++
			}
			errs = append(errs, relErr)
		}
	}
	slices.Sort(errs)
	if len(errs) > 0 {
		acc.p99 = errs[len(errs)*99/100]
	}
	return acc
}

// scrapeTimes returns the sorted timestamps of the target's counter samples
// in all replicas.
func scrapeTimes(ds *groundtruth.Dataset, tg *groundtruth.Target) []int64 {
	lset := withName(tg.Labels, groundtruth.CounterName)
	var ts []int64
	for _, r := range ds.Replicas {
		for _, s := range r.Series {
			if labels.Equal(s.Labels, lset) {
				for _, smpl := range s.Samples {
					ts = append(ts, smpl.T)
				}
			}
		}
	}
	slices.Sort(ts)
	return ts
}

// countIn counts the sorted timestamps in (from, to].
func countIn(ts []int64, from, to int64) int {
	lo, _ := slices.BinarySearch(ts, from+1)
	hi, _ := slices.BinarySearch(ts, to+1)
	return hi - lo
}

func withName(lset labels.Labels, name string) labels.Labels {
	b := labels.NewBuilder(lset)
	b.Set(labels.MetricName, name)
	return b.Labels()
}

func outageEdges(ds *groundtruth.Dataset) []int64 {
	var edges []int64
	for _, r := range ds.Replicas {
		for _, w := range r.Down {
			edges = append(edges, w.Start, w.End)
		}
	}
	return edges
}

func nearAny(t int64, points []int64, within int64) bool {
	for _, p := range points {
		if t >= p-within && t <= p+within {
			return true
		}
	}
	return false
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
