package dedup_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"

	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// hs is a histogram sample at t seconds: the test histogram number v (a
// higher number reads higher in every bucket), or a stale marker if v is
// staleH.
type hs struct {
	t float64
	v int
}

const staleH = -1

// hgrid is histogram number i at 15*i s for i in [0, n), skipping missing.
func hgrid(n int, missing ...int) []hs {
	var out []hs
	for i := range n {
		if !slices.Contains(missing, i) {
			out = append(out, hs{float64(i) * 15, i})
		}
	}
	return out
}

func testHistogram(v int, gauge bool) *histogram.Histogram {
	if v == staleH {
		return &histogram.Histogram{Sum: math.Float64frombits(value.StaleNaN)}
	}
	if gauge {
		return tsdbutil.GenerateTestGaugeHistogram(int64(v))
	}
	return tsdbutil.GenerateTestHistogram(int64(v))
}

// histogramChunks encodes samples as Prometheus's head would: integer or
// float histogram chunks, cut where the appender asks for a new chunk.
func histogramChunks(tb testing.TB, samples []hs, float, gauge bool) []dedup.Chunk {
	tb.Helper()
	var (
		out   []dedup.Chunk
		c     chunkenc.Chunk
		app   chunkenc.Appender
		first int64
	)
	if float {
		c = chunkenc.NewFloatHistogramChunk()
	} else {
		c = chunkenc.NewHistogramChunk()
	}
	app, err := c.Appender()
	if err != nil {
		tb.Fatal(err)
	}
	for i, s := range samples {
		t, h := int64(s.t*1000), testHistogram(s.v, gauge)
		if i == 0 {
			first = t
		}
		var next chunkenc.Chunk
		if float {
			next, _, app, err = app.AppendFloatHistogram(nil, t, h.ToFloat(nil), false)
		} else {
			next, _, app, err = app.AppendHistogram(nil, t, h, false)
		}
		if err != nil {
			tb.Fatalf("append %v: %v", s, err)
		}
		if next != nil {
			out = append(out, dedup.Chunk{MinTime: first, MaxTime: int64(samples[i-1].t * 1000), Chunk: c})
			c, first = next, t
		}
	}
	return append(out, dedup.Chunk{MinTime: first, MaxTime: int64(samples[len(samples)-1].t * 1000), Chunk: c})
}

// TestMergeHistograms checks that native histograms, integer and float,
// come out of the merge intact, and that moving between replicas neither
// adds a counter reset nor hides one.
func TestMergeHistograms(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gauge    bool
		replicas [][]hs
		want     []hs
		resets   int // as PromQL's resets() counts them in want
	}{
		{
			name:     "missed scrape is filled",
			replicas: [][]hs{hgrid(8, 5), shift(hgrid(8), 6)},
			want:     []hs{{0, 0}, {15, 1}, {30, 2}, {45, 3}, {60, 4}, {81, 5}, {90, 6}, {105, 7}},
		},
		{
			name:     "fill reading higher than the primary's next is left out",
			replicas: [][]hs{hgrid(8, 4), {{66, 7}}},
			want:     []hs{{0, 0}, {15, 1}, {30, 2}, {45, 3}, {75, 5}, {90, 6}, {105, 7}},
		},
		{
			name:     "fill reading lower than the sample before is left out",
			replicas: [][]hs{hgrid(8, 4), {{66, 1}}},
			want:     []hs{{0, 0}, {15, 1}, {30, 2}, {45, 3}, {75, 5}, {90, 6}, {105, 7}},
		},
		{
			name:     "reset seen by the fill is kept",
			replicas: [][]hs{{{0, 5}, {15, 6}, {30, 7}, {45, 8}, {75, 1}, {90, 2}}, {{66, 0}}},
			want:     []hs{{0, 5}, {15, 6}, {30, 7}, {45, 8}, {66, 0}, {75, 1}, {90, 2}},
			resets:   1,
		},
		{
			name:     "reset after the fill is kept",
			replicas: [][]hs{{{0, 5}, {15, 6}, {30, 7}, {45, 8}, {75, 1}, {90, 2}}, {{66, 9}}},
			want:     []hs{{0, 5}, {15, 6}, {30, 7}, {45, 8}, {66, 9}, {75, 1}, {90, 2}},
			resets:   1,
		},
		{
			name:     "stale marker of one replica while the other scrapes",
			replicas: [][]hs{{{0, 0}, {15, 1}, {30, staleH}, {45, 3}}, shift(hgrid(4), 5)},
			want:     []hs{{0, 0}, {15, 1}, {35, 2}, {45, 3}},
		},
		{
			name:     "primary ends: the other's first sample reading lower is left out",
			replicas: [][]hs{hgrid(4), {{10, 0}, {25, 1}, {40, 2}, {55, 2}, {70, 4}, {85, 5}}},
			want:     []hs{{0, 0}, {15, 1}, {30, 2}, {45, 3}, {70, 4}, {85, 5}},
		},
		{
			name:     "gauge histograms fill with what was read",
			gauge:    true,
			replicas: [][]hs{hgrid(8, 4), {{66, 1}}},
			want:     []hs{{0, 0}, {15, 1}, {30, 2}, {45, 3}, {66, 1}, {75, 5}, {90, 6}, {105, 7}},
		},
	} {
		for _, float := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/float=%v", tc.name, float), func(t *testing.T) {
				lset := labels.FromStrings(model.MetricNameLabel, "h")
				set := &listSeriesSet{}
				for _, r := range tc.replicas {
					set.series = append(set.series, dedup.NewChunkSeries(lset, histogramChunks(t, r, float, tc.gauge)))
				}
				merged := dedup.NewSeriesSet(set, &storage.SelectHints{Func: "rate"})
				if !merged.Next() {
					t.Fatal("no series")
				}
				checkHistograms(t, merged.At().Iterator(nil), float, tc.gauge, tc.want, tc.resets)
			})
		}
	}
}

func shift(samples []hs, by float64) []hs {
	out := make([]hs, len(samples))
	for i, s := range samples {
		out[i] = hs{s.t + by, s.v}
	}
	return out
}

// checkHistograms reads it to the end and compares it with want. Each
// sample is read into a reused histogram and into a fresh one, and the fresh
// ones are compared again at the end: nothing the iterator returned may
// change under the caller.
func checkHistograms(t *testing.T, it chunkenc.Iterator, float, gauge bool, want []hs, wantResets int) {
	t.Helper()
	wantTyp := chunkenc.ValHistogram
	if float {
		wantTyp = chunkenc.ValFloatHistogram
	}
	var (
		// Not nil: given nil, At* may return the iterator's own buffers,
		// and the fresh copies below would share them.
		reusedH = &histogram.Histogram{}
		reusedF = &histogram.FloatHistogram{}
		kept    []*histogram.FloatHistogram
		resets  int
	)
	for i, w := range want {
		if typ := it.Next(); typ != wantTyp {
			t.Fatalf("sample %d: type %v, want %v", i, typ, wantTyp)
		}
		wantFH := testHistogram(w.v, gauge).ToFloat(nil)
		var ts int64
		ts, reusedF = it.AtFloatHistogram(reusedF)
		if ts != int64(w.t*1000) || !reusedF.Equals(wantFH) {
			t.Fatalf("sample %d: got %d %v, want %v", i, ts, reusedF, w)
		}
		if !float {
			if _, reusedH = it.AtHistogram(reusedH); !reusedH.Equals(testHistogram(w.v, gauge)) {
				t.Fatalf("sample %d as integer histogram: got %v", i, reusedH)
			}
		}
		_, fresh := it.AtFloatHistogram(nil)
		if n := len(kept); n > 0 && !value.IsStaleNaN(fresh.Sum) && fresh.DetectReset(kept[n-1]) {
			resets++
		}
		kept = append(kept, fresh)
	}
	if typ := it.Next(); typ != chunkenc.ValNone {
		t.Fatalf("more samples than wanted: %v at %d", typ, it.AtT())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if !kept[i].Equals(testHistogram(w.v, gauge).ToFloat(nil)) {
			t.Fatalf("sample %d changed after it was returned: %v", i, kept[i])
		}
	}
	if !gauge && resets != wantResets {
		t.Errorf("%d counter resets, want %d", resets, wantResets)
	}
}

// TestHistogramIteratorAllocs checks that merging histograms, deciding fills
// by comparing them, allocates nothing per sample. Opening a histogram chunk
// allocates its layout, so a pass is compared with reading the first sample.
func TestHistogramIteratorAllocs(t *testing.T) {
	lset := labels.FromStrings(model.MetricNameLabel, "h")
	a := hgrid(200, 3, 50, 51, 52, 53, 120)
	b := shift(hgrid(200, 10, 11, 90), 6)
	set := dedup.NewSeriesSet(&listSeriesSet{series: []storage.Series{
		dedup.NewChunkSeries(lset, histogramChunks(t, a, false, false)),
		dedup.NewChunkSeries(lset, histogramChunks(t, b, false, false)),
	}}, &storage.SelectHints{Func: "rate"})
	set.Next()
	s := set.At()
	it := s.Iterator(nil)
	fh := &histogram.FloatHistogram{}
	read := func(limit int) func() {
		return func() {
			it = s.Iterator(it)
			for n := 0; n < limit && it.Next() != chunkenc.ValNone; n++ {
				_, fh = it.AtFloatHistogram(fh)
			}
		}
	}
	first, all := testing.AllocsPerRun(5, read(1)), testing.AllocsPerRun(5, read(math.MaxInt))
	if all > first {
		t.Errorf("a pass over %d histograms allocates %v times, reading the first %v times: want no more", len(a)+len(b), all, first)
	}
}
