package dedup_test

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
	"github.com/tandem-metrics/tandem/pkg/floats"
	"github.com/tandem-metrics/tandem/pkg/xorchunk"
)

// benchReplicas returns one day of one counter as two replicas' chunks,
// each replica missing scrapes at missRate besides its outages.
func benchReplicas(tb testing.TB, missRate float64) (lset labels.Labels, replicas [2][]dedup.Chunk, inputSamples int) {
	tb.Helper()
	cfg := groundtruth.DefaultConfig()
	cfg.Targets, cfg.Duration, cfg.MissRate = 1, 24*time.Hour, missRate
	ds, err := groundtruth.Generate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	for r := range replicas {
		s := ds.Replicas[r].Series[0]
		lset = s.Labels
		replicas[r] = xorChunks(tb, s.Samples)
		inputSamples += len(s.Samples)
	}
	return lset, replicas, inputSamples
}

func mergedSeries(lset labels.Labels, replicas [2][]dedup.Chunk) storage.Series {
	return mergedSeriesOf(dedup.NewChunkSeries, lset, replicas)
}

func mergedSeriesOf(newSeries func(labels.Labels, []dedup.Chunk) storage.Series, lset labels.Labels, replicas [2][]dedup.Chunk) storage.Series {
	set := dedup.NewSeriesSet(&listSeriesSet{series: []storage.Series{
		newSeries(lset, replicas[0]),
		newSeries(lset, replicas[1]),
	}}, &storage.SelectHints{Func: "rate"})
	set.Next()
	return set.At()
}

// BenchmarkIterator compares reading two replicas through the merge with
// decoding the same chunks with plain XOR iterators: Prometheus's (xor)
// and the query's own (xorchunk), which the merge is measured against. ns/sample counts input
// samples (both replicas) in both cases. The merge reads a replica other than
// the one it follows only around gaps, so its cost depends on how often
// scrapes are missed: xor and dedup are on the ground truth's 3%, the others
// on rarely (the common case) and on 20%.
func BenchmarkIterator(b *testing.B) {
	benchmarkIterator(b, groundtruth.DefaultConfig().MissRate)
	for _, bc := range []struct {
		name     string
		missRate float64
	}{
		{"few gaps", 0.001},
		{"many gaps", 0.2},
	} {
		b.Run(bc.name, func(b *testing.B) { benchmarkIterator(b, bc.missRate) })
	}
}

func benchmarkIterator(b *testing.B, missRate float64) {
	lset, replicas, inputSamples := benchReplicas(b, missRate)
	b.Run("xor", func(b *testing.B) {
		var it chunkenc.Iterator
		b.ReportAllocs()
		for b.Loop() {
			for _, chunks := range replicas {
				for _, c := range chunks {
					it = c.Chunk.Iterator(it)
					for it.Next() != chunkenc.ValNone {
						it.At()
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inputSamples), "ns/sample")
	})
	// What the merge replaces: the query's own XOR decoder over both
	// replicas, sample by sample as the merge reads them.
	b.Run("xorchunk", func(b *testing.B) {
		it := &xorchunk.Iterator{}
		b.ReportAllocs()
		for b.Loop() {
			for _, chunks := range replicas {
				for _, c := range chunks {
					it.Reset(c.Chunk.Bytes())
					for it.Next() != chunkenc.ValNone {
						it.At()
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inputSamples), "ns/sample")
	})
	// "dedup lean" as Thanos's engine reads it: a lean series' iterator,
	// a sample at a time.
	for name, newSeries := range map[string]func(labels.Labels, []dedup.Chunk) storage.Series{
		"dedup": dedup.NewChunkSeries, "dedup lean": dedup.NewLeanChunkSeries,
	} {
		b.Run(name, func(b *testing.B) {
			s := mergedSeriesOf(newSeries, lset, replicas)
			var it chunkenc.Iterator
			out := 0
			b.ReportAllocs()
			for b.Loop() {
				it = s.Iterator(it)
				for it.Next() != chunkenc.ValNone {
					it.At()
					out++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inputSamples), "ns/sample")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(out), "ns/output-sample")
		})
	}
	// As read-ahead reads the merge (readAsReadAhead).
	b.Run("dedup runs", func(b *testing.B) {
		s := mergedSeries(lset, replicas)
		var it chunkenc.Iterator
		var buf []floats.Sample
		b.ReportAllocs()
		for b.Loop() {
			it = s.Iterator(it)
			buf = readAsReadAhead(it, buf)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inputSamples), "ns/sample")
	})
}

// readAsReadAhead reads it as read-ahead reads the merge: a sample by Next,
// then the run of the followed replica after it in one call, each into buf.
func readAsReadAhead(it chunkenc.Iterator, buf []floats.Sample) []floats.Sample {
	runs := it.(floatRuns)
	for it.Next() != chunkenc.ValNone {
		t, v := it.At()
		buf = runs.AppendFloats(append(buf[:0], floats.Sample{T: t, F: v}), math.MaxInt64)
	}
	return buf
}

// TestIteratorAllocs checks that reading a merged series allocates nothing
// per sample: with the iterator reused, a whole pass allocates nothing.
func TestIteratorAllocs(t *testing.T) {
	lset, replicas, _ := benchReplicas(t, groundtruth.DefaultConfig().MissRate)
	s := mergedSeries(lset, replicas)
	it := s.Iterator(nil)
	n := 0
	allocs := testing.AllocsPerRun(5, func() {
		it = s.Iterator(it)
		for it.Next() != chunkenc.ValNone {
			it.At()
			n++
		}
	})
	if allocs > 0 {
		t.Errorf("a pass over %d samples allocates %v times, want 0", n/6, allocs)
	}
}

// BenchmarkShortSeries reads merged series as an instant query over five
// minutes selects them: a chunk of about 25 samples per replica, where
// what the merge does once per series (probing each replica's spacing,
// opening its chunks) weighs as much as the samples.
func BenchmarkShortSeries(b *testing.B) {
	lset, day, _ := benchReplicas(b, groundtruth.DefaultConfig().MissRate)
	var replicas [2][]dedup.Chunk
	inputSamples := 0
	for r := range replicas {
		it := day[r][len(day[r])/2].Chunk.Iterator(nil)
		var samples []groundtruth.Sample
		for it.Next() != chunkenc.ValNone && len(samples) < 25 {
			t, v := it.At()
			samples = append(samples, groundtruth.Sample{T: t, V: v})
		}
		replicas[r] = xorChunks(b, samples)
		inputSamples += len(samples)
	}
	var it chunkenc.Iterator
	var buf []floats.Sample
	b.ReportAllocs()
	for b.Loop() {
		it = mergedSeries(lset, replicas).Iterator(it)
		buf = readAsReadAhead(it, buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*inputSamples), "ns/sample")
}
