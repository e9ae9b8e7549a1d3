package xorchunk_test

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/xorchunk"
)

// BenchmarkDecode reads a day of a counter scraped every 15 s with a few ms
// of jitter, in chunks of 120 samples as Prometheus cuts them, with
// Prometheus's iterator and with the Iterator, decoding whole chunks and
// lean.
func BenchmarkDecode(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var chunks [][]byte
	var total int
	tm, v := int64(1_700_000_000_000), 0.0
	for range 24 * 60 * 4 / 120 {
		ts, vs := make([]int64, 120), make([]float64, 120)
		for i := range ts {
			tm += 15_000 + rng.Int64N(5)
			v += float64(rng.IntN(100))
			ts[i], vs[i] = tm, v
		}
		chunks = append(chunks, encode(b, ts, vs))
		total += len(ts)
	}
	b.Run("prometheus", func(b *testing.B) {
		var it chunkenc.Iterator
		c := chunkenc.NewXORChunk()
		b.ReportAllocs()
		for b.Loop() {
			for _, data := range chunks {
				c.Reset(data)
				it = c.Iterator(it)
				for it.Next() != chunkenc.ValNone {
					it.At()
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/sample")
	})
	for name, lean := range map[string]bool{"xorchunk": false, "xorchunk lean": true} {
		b.Run(name, func(b *testing.B) {
			it := &xorchunk.Iterator{}
			b.ReportAllocs()
			for b.Loop() {
				for _, data := range chunks {
					if lean {
						it.ResetLean(data)
					} else {
						it.Reset(data)
					}
					for it.Next() != chunkenc.ValNone {
						it.At()
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/sample")
		})
	}
}
