package dedup_test

import (
	"runtime"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// TestLeanChunkSeries checks that merging lean chunk series gives, bit for
// bit, what merging the others gives, and that iterators over lean series,
// once reading, take at most three quarters of the others' memory (a
// decoded chunk is most of the difference): Thanos's engine keeps one per
// series open for a whole query.
func TestLeanChunkSeries(t *testing.T) {
	cfg := groundtruth.DefaultConfig()
	cfg.Targets = 20
	ds, err := groundtruth.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	merged := func(lean bool) []storage.Series {
		var out []storage.Series
		a, b := ds.Replicas[groundtruth.ReplicaA].Series, ds.Replicas[groundtruth.ReplicaB].Series
		for i := range a {
			newSeries := dedup.NewChunkSeries
			if lean {
				newSeries = dedup.NewLeanChunkSeries
			}
			out = append(out, dedup.Merge(a[i].Labels, []storage.Series{
				newSeries(a[i].Labels, xorChunks(t, a[i].Samples)),
				newSeries(b[i].Labels, xorChunks(t, b[i].Samples)),
			}, &storage.SelectHints{Func: "rate"}))
		}
		return out
	}
	full, lean := merged(false), merged(true)
	for i := range full {
		if got, want := readBits(lean[i]), readBits(full[i]); !slices.Equal(got, want) {
			t.Fatalf("%s: lean %d samples, %d otherwise; first difference at %d", full[i].Labels(), len(got), len(want), firstDifference(got, want))
		}
	}

	// Bytes allocated to open an iterator per series and read one sample.
	opened := func(series []storage.Series) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		its := make([]chunkenc.Iterator, 0, len(series))
		for _, s := range series {
			it := s.Iterator(nil)
			it.Next()
			its = append(its, it)
		}
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(its)
		return after.TotalAlloc - before.TotalAlloc
	}
	fullBytes, leanBytes := opened(full), opened(lean)
	if leanBytes*4 > fullBytes*3 {
		t.Errorf("%d lean iterators took %d bytes, the others %d: want at most three quarters", len(lean), leanBytes, fullBytes)
	}
	t.Logf("%d iterators: %d bytes lean, %d otherwise", len(lean), leanBytes, fullBytes)
}
