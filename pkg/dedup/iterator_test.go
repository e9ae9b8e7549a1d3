package dedup_test

import (
	"math"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// s is a sample in seconds, to keep the tables readable.
type s struct{ t, v float64 }

func toSamples(in []s) []groundtruth.Sample {
	out := make([]groundtruth.Sample, len(in))
	for i, x := range in {
		out[i] = groundtruth.Sample{T: int64(x.t * 1000), V: x.v}
	}
	return out
}

// grid is a sample every 15 s from `from` seconds, n of them, with value
// slope*t, skipping the indexes in missing.
func grid(from float64, n int, slope float64, missing ...int) []s {
	var out []s
	for i := range n {
		if slices.Contains(missing, i) {
			continue
		}
		t := from + float64(i)*15
		out = append(out, s{t, slope * t})
	}
	return out
}

// mergeReplicas runs replicas of one series through dedup.NewSeriesSet.
func mergeReplicas(tb testing.TB, hints *storage.SelectHints, replicas ...[]s) []groundtruth.Sample {
	tb.Helper()
	lset := labels.FromStrings(model.MetricNameLabel, "x")
	set := &listSeriesSet{}
	for _, r := range replicas {
		set.series = append(set.series, dedup.NewChunkSeries(lset, xorChunks(tb, toSamples(r))))
	}
	merged := dedup.NewSeriesSet(set, hints)
	if !merged.Next() {
		tb.Fatal("no series")
	}
	got := floatSamples(tb, merged.At().Iterator(nil))
	if merged.Next() {
		tb.Fatal("replicas of one series merged into more than one")
	}
	return got
}

func TestMergeFloats(t *testing.T) {
	rate := &storage.SelectHints{Func: "rate"}
	stale := math.Float64frombits(value.StaleNaN)
	for _, tc := range []struct {
		name     string
		hints    *storage.SelectHints
		replicas [][]s
		want     []s
	}{
		{
			name:     "one replica",
			replicas: [][]s{grid(0, 4, 1)},
			want:     grid(0, 4, 1),
		},
		{
			name:     "identical replicas",
			replicas: [][]s{grid(0, 5, 1), grid(0, 5, 1)},
			want:     grid(0, 5, 1),
		},
		{
			name:     "no gaps: follow one replica only",
			replicas: [][]s{grid(0, 6, 1), grid(5, 6, 1)},
			want:     grid(0, 6, 1),
		},
		{
			name:     "single missed scrape is filled",
			replicas: [][]s{grid(0, 6, 1, 2), grid(5, 6, 1)},
			want:     []s{{0, 0}, {15, 15}, {35, 35}, {45, 45}, {60, 60}, {75, 75}},
		},
		{
			name:     "fill keeps away from near duplicates",
			replicas: [][]s{grid(0, 6, 1, 2), grid(1, 6, 1)},
			want:     []s{{0, 0}, {15, 15}, {31, 31}, {45, 45}, {60, 60}, {75, 75}},
		},
		{
			name:     "long outage is filled, primary resumes",
			replicas: [][]s{grid(0, 10, 1, 2, 3, 4, 5, 6), grid(5, 10, 1)},
			want:     []s{{0, 0}, {15, 15}, {35, 35}, {50, 50}, {65, 65}, {80, 80}, {95, 95}, {105, 105}, {120, 120}, {135, 135}},
		},
		{
			name:     "nothing invented where both are down",
			replicas: [][]s{grid(0, 8, 1, 2, 3, 4, 5), grid(5, 8, 1, 2, 3, 4, 5)},
			want:     []s{{0, 0}, {15, 15}, {90, 90}, {105, 105}},
		},
		{
			name:     "both down: a skewed replica's samples at the window's edges are near-duplicates, not fills",
			replicas: [][]s{{{0, 0}, {15, 15}, {30, 30}, {150, 150}, {165, 165}}, {{1, 1}, {16, 16}, {31, 31}, {151, 151}, {166, 166}}},
			want:     []s{{0, 0}, {15, 15}, {30, 30}, {150, 150}, {165, 165}},
		},
		{
			name:     "both down: the last sample before and the first after come from whichever replica has them",
			replicas: [][]s{{{0, 0}, {15, 15}, {30, 30}, {165, 165}, {180, 180}}, {{8, 8}, {23, 23}, {38, 38}, {143, 143}, {158, 158}, {173, 173}}},
			want:     []s{{0, 0}, {15, 15}, {30, 30}, {38, 38}, {143, 143}, {165, 165}, {180, 180}},
		},
		{
			name:     "primary ends, other goes on",
			replicas: [][]s{grid(0, 4, 1), grid(5, 8, 1)},
			want:     []s{{0, 0}, {15, 15}, {30, 30}, {45, 45}, {65, 65}, {80, 80}, {95, 95}, {110, 110}},
		},
		{
			name:     "three replicas",
			replicas: [][]s{grid(0, 7, 1, 2, 4), grid(5, 7, 1, 3), grid(10, 7, 1)},
			want:     []s{{0, 0}, {15, 15}, {35, 35}, {45, 45}, {65, 65}, {75, 75}, {90, 90}, {100, 100}},
		},
		{
			name:     "counter: filler reading lower is held, not a reset",
			hints:    rate,
			replicas: [][]s{{{0, 100}, {15, 115}, {45, 145}}, {{20, 105}, {35, 110}}},
			want:     []s{{0, 100}, {15, 115}, {35, 115}, {45, 145}},
		},
		{
			name:     "counter: filler reading higher than the primary's next is held",
			hints:    rate,
			replicas: [][]s{{{0, 100}, {15, 115}, {45, 145}}, {{20, 125}, {35, 150}}},
			want:     []s{{0, 100}, {15, 115}, {35, 145}, {45, 145}},
		},
		{
			name:     "counter: reset seen by the filler is kept",
			hints:    rate,
			replicas: [][]s{{{0, 100}, {15, 115}, {45, 10}, {60, 25}}, {{20, 118}, {35, 3}}},
			want:     []s{{0, 100}, {15, 115}, {35, 3}, {45, 10}, {60, 25}},
		},
		{
			name:     "counter: reset seen by the primary is kept",
			hints:    rate,
			replicas: [][]s{{{0, 100}, {15, 115}, {30, 5}, {45, 20}}, {{5, 105}, {20, 1}, {35, 11}}},
			want:     []s{{0, 100}, {15, 115}, {30, 5}, {45, 20}},
		},
		{
			name:     "gauge: filler values are kept as read",
			replicas: [][]s{{{0, 100}, {15, 115}, {45, 145}}, {{20, 105}, {35, 90}}},
			want:     []s{{0, 100}, {15, 115}, {35, 90}, {45, 145}},
		},
		{
			name:     "stale marker of one replica while the other scrapes",
			replicas: [][]s{{{0, 0}, {15, 15}, {30, stale}, {45, 45}}, grid(5, 4, 1)},
			want:     []s{{0, 0}, {15, 15}, {35, 35}, {45, 45}},
		},
		{
			name:     "stale markers of all replicas end the series",
			replicas: [][]s{{{0, 0}, {15, 15}, {30, stale}}, {{5, 5}, {20, 20}, {35, stale}}},
			want:     []s{{0, 0}, {15, 15}, {30, stale}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeReplicas(t, tc.hints, tc.replicas...)
			want := toSamples(tc.want)
			eq := func(a, b groundtruth.Sample) bool {
				return a.T == b.T && (a.V == b.V || value.IsStaleNaN(a.V) && value.IsStaleNaN(b.V))
			}
			if !slices.EqualFunc(got, want, eq) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// TestMergeSeek checks that seeking gives what merging all the way gives.
func TestMergeSeek(t *testing.T) {
	lset := labels.FromStrings(model.MetricNameLabel, "x")
	a := toSamples(grid(0, 200, 1, 3, 50, 51, 52, 53, 54, 55, 56, 57, 120))
	b := toSamples(grid(4, 200, 1, 10, 11, 90))
	series := func() storage.Series {
		set := dedup.NewSeriesSet(&listSeriesSet{series: []storage.Series{
			dedup.NewChunkSeries(lset, xorChunks(t, a)),
			dedup.NewChunkSeries(lset, xorChunks(t, b)),
		}}, nil)
		set.Next()
		return set.At()
	}
	all := floatSamples(t, series().Iterator(nil))
	firstAtOrAfter := func(ts int64) (groundtruth.Sample, bool) {
		i, _ := slices.BinarySearchFunc(all, ts, func(x groundtruth.Sample, t int64) int { return int(x.T - t) })
		if i == len(all) {
			return groundtruth.Sample{}, false
		}
		return all[i], true
	}
	for _, tc := range []struct {
		name  string
		seeks []int64 // ms
	}{
		{"start", []int64{0}},
		{"every few seconds", seq(0, 3_100_000, 7_000)},
		{"into the outage", []int64{800_000, 830_000}},
		{"backwards is a no-op", []int64{500_000, 100_000}},
		{"past the end", []int64{10_000_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := series().Iterator(nil)
			var last int64 = math.MinInt64
			for _, ts := range tc.seeks {
				typ := it.Seek(ts)
				want, ok := firstAtOrAfter(max(ts, last))
				if !ok {
					if typ != chunkenc.ValNone {
						t.Fatalf("seek %d: got %v at %d, want exhausted", ts, typ, it.AtT())
					}
					continue
				}
				if gt, gv := it.At(); typ != chunkenc.ValFloat || gt != want.T || gv != want.V {
					t.Fatalf("seek %d: got %v %d %v, want %v", ts, typ, gt, gv, want)
				}
				last = want.T
			}
		})
	}
}

func seq(from, to, step int64) []int64 {
	var out []int64
	for t := from; t < to; t += step {
		out = append(out, t)
	}
	return out
}
