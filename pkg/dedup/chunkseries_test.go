package dedup_test

import (
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// run returns samples {t, t*10} for t in [from, to) stepping by step.
func run(from, to, step int64) []groundtruth.Sample {
	var out []groundtruth.Sample
	for t := from; t < to; t += step {
		out = append(out, groundtruth.Sample{T: t, V: float64(t * 10)})
	}
	return out
}

func oneChunk(tb testing.TB, samples []groundtruth.Sample) dedup.Chunk {
	tb.Helper()
	cs := xorChunks(tb, samples)
	if len(cs) != 1 {
		tb.Fatalf("want one chunk, got %d", len(cs))
	}
	return cs[0]
}

func TestChunkSeriesOverlaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks [][]groundtruth.Sample
		want   []groundtruth.Sample
	}{
		{"single chunk", [][]groundtruth.Sample{run(0, 50, 10)}, run(0, 50, 10)},
		{"identical chunks", [][]groundtruth.Sample{run(0, 50, 10), run(0, 50, 10)}, run(0, 50, 10)},
		{"same chunk three times", [][]groundtruth.Sample{run(0, 50, 10), run(0, 50, 10), run(0, 50, 10)}, run(0, 50, 10)},
		{"partial overlap", [][]groundtruth.Sample{run(0, 60, 10), run(30, 100, 10)}, run(0, 100, 10)},
		{"contained", [][]groundtruth.Sample{run(0, 100, 10), run(30, 60, 10)}, run(0, 100, 10)},
		{"split series", [][]groundtruth.Sample{run(0, 50, 10), run(50, 100, 10), run(100, 150, 10)}, run(0, 150, 10)},
		{"split and repeated", [][]groundtruth.Sample{run(0, 50, 10), run(0, 50, 10), run(50, 100, 10), run(50, 100, 10)}, run(0, 100, 10)},
		{"interleaved", [][]groundtruth.Sample{run(0, 100, 20), run(10, 100, 20)}, run(0, 100, 10)},
		{"unsorted input", [][]groundtruth.Sample{run(50, 100, 10), run(0, 50, 10)}, run(0, 100, 10)},
		{"gap between chunks", [][]groundtruth.Sample{run(0, 30, 10), run(100, 130, 10)}, slices.Concat(run(0, 30, 10), run(100, 130, 10))},
		// Longer than a lean iterator's batch.
		{"long, partial overlap", [][]groundtruth.Sample{run(0, 600, 5), run(300, 900, 5)}, run(0, 900, 5)},
		{"long, contained", [][]groundtruth.Sample{run(0, 600, 5), run(300, 310, 5)}, run(0, 600, 5)},
		{"long, interleaved", [][]groundtruth.Sample{run(0, 2000, 20), run(10, 2000, 20)}, run(0, 2000, 10)},
		{"long, split", [][]groundtruth.Sample{run(0, 600, 5), run(600, 1200, 5)}, run(0, 1200, 5)},
	} {
		for name, newSeries := range map[string]func(labels.Labels, []dedup.Chunk) storage.Series{
			"whole": dedup.NewChunkSeries, "lean": dedup.NewLeanChunkSeries,
		} {
			t.Run(tc.name+", "+name, func(t *testing.T) {
				var chunks []dedup.Chunk
				for _, c := range tc.chunks {
					chunks = append(chunks, oneChunk(t, c))
				}
				s := newSeries(labels.FromStrings("a", "b"), chunks)
				got := floatSamples(t, s.Iterator(nil))
				if !slices.Equal(got, tc.want) {
					t.Fatalf("got  %v\nwant %v", got, tc.want)
				}
				// The iterator can be reused for the next series.
				if again := floatSamples(t, s.Iterator(s.Iterator(nil))); !slices.Equal(again, tc.want) {
					t.Fatalf("reused iterator got %v", again)
				}
			})
		}
	}
}

func TestChunkSeriesSeek(t *testing.T) {
	chunks := []dedup.Chunk{oneChunk(t, run(0, 60, 10)), oneChunk(t, run(30, 100, 10)), oneChunk(t, run(200, 300, 10))}
	s := dedup.NewChunkSeries(labels.EmptyLabels(), chunks)
	for _, tc := range []struct {
		name    string
		seeks   []int64
		wantT   []int64 // after each seek; -1 for exhausted
		thenAll []int64 // timestamps returned by Next after the seeks
	}{
		{"before start", []int64{-5}, []int64{0}, []int64{10, 20, 30}},
		{"exact", []int64{40}, []int64{40}, []int64{50, 60, 70}},
		{"between samples", []int64{41}, []int64{50}, []int64{60, 70, 80}},
		{"into gap between chunks", []int64{95}, []int64{200}, []int64{210, 220, 230}},
		{"backwards is a no-op", []int64{50, 20}, []int64{50, 50}, []int64{60, 70, 80}},
		{"repeated forward", []int64{10, 60, 205}, []int64{10, 60, 210}, []int64{220, 230, 240}},
		{"past the end", []int64{400}, []int64{-1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := s.Iterator(nil)
			for i, st := range tc.seeks {
				typ := it.Seek(st)
				if tc.wantT[i] < 0 {
					if typ != chunkenc.ValNone {
						t.Fatalf("seek %d: got %v, want exhausted", st, typ)
					}
					continue
				}
				if typ != chunkenc.ValFloat || it.AtT() != tc.wantT[i] {
					t.Fatalf("seek %d: got %v at %d, want float at %d", st, typ, it.AtT(), tc.wantT[i])
				}
				if _, v := it.At(); v != float64(it.AtT()*10) {
					t.Fatalf("seek %d: value %v at %d", st, v, it.AtT())
				}
			}
			for _, want := range tc.thenAll {
				if typ := it.Next(); typ != chunkenc.ValFloat || it.AtT() != want {
					t.Fatalf("next: got %v at %d, want %d", typ, it.AtT(), want)
				}
			}
		})
	}
}

func TestChunkSeriesHistograms(t *testing.T) {
	hs := tsdbutil.GenerateTestHistograms(20)
	ts := make([]int64, len(hs))
	for i := range ts {
		ts[i] = int64(i) * 1000
	}
	// Overlapping chunks: [0, 12) and [8, 20).
	chunks := []dedup.Chunk{histogramChunk(t, ts[:12], hs[:12]), histogramChunk(t, ts[8:], hs[8:])}
	s := dedup.NewChunkSeries(labels.EmptyLabels(), chunks)

	t.Run("integer", func(t *testing.T) {
		it := s.Iterator(nil)
		var h *histogram.Histogram
		for i := range hs {
			if typ := it.Next(); typ != chunkenc.ValHistogram {
				t.Fatalf("sample %d: type %v", i, typ)
			}
			var gotT int64
			gotT, h = it.AtHistogram(h) // reuse h: values must be copied in
			if gotT != ts[i] || !h.Equals(hs[i]) {
				t.Fatalf("sample %d: got %d %v, want %d %v", i, gotT, h, ts[i], hs[i])
			}
		}
		if it.Next() != chunkenc.ValNone {
			t.Fatal("want exhausted")
		}
	})
	t.Run("as float histograms after seek", func(t *testing.T) {
		it := s.Iterator(nil)
		if it.Seek(ts[5]) != chunkenc.ValHistogram {
			t.Fatal("seek")
		}
		var fh *histogram.FloatHistogram
		for i := 5; i < len(hs); i++ {
			if i > 5 && it.Next() != chunkenc.ValHistogram {
				t.Fatalf("sample %d missing", i)
			}
			_, fh = it.AtFloatHistogram(fh)
			if !fh.Equals(hs[i].ToFloat(nil)) {
				t.Fatalf("sample %d: got %v, want %v", i, fh, hs[i])
			}
		}
	})
}
