package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

func labelsOf(ss ...string) labels.Labels { return labels.FromStrings(ss...) }

// benchSeries are n series as a sidecar sends a day of the benchmark's
// counters: the labels of bench_requests_total and the replica's external
// label, and chunks of 120 samples scraped every 15 s, now and then a few
// milliseconds late, about 150 bytes each.
func benchSeries(n, chunks int) []*storepb.Series {
	rng := rand.New(rand.NewPCG(1, 2))
	series := make([]*storepb.Series, n)
	for i := range series {
		lset := labelsOf("__name__", "bench_requests_total", "code", []string{"200", "500"}[i%2], "group", fmt.Sprintf("g%02d", i/1000),
			"instance", fmt.Sprintf("host-%05d:9100", i/2), "job", "bench", "replica", "a")
		s := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(lset)}
		v := 0.0
		for c := range chunks {
			chk := chunkenc.NewXORChunk()
			app, err := chk.Appender()
			if err != nil {
				panic(err)
			}
			t0 := int64(c) * 120 * 15_000
			for j := range int64(120) {
				v += float64(rng.IntN(3))
				jitter := int64(0)
				if rng.IntN(16) == 0 {
					jitter = int64(rng.IntN(5))
				}
				app.Append(t0+j*15_000+jitter, v)
			}
			s.Chunks = append(s.Chunks, storepb.AggrChunk{MinTime: t0, MaxTime: t0 + 119*15_000, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chk.Bytes()}})
		}
		series[i] = s
	}
	return series
}

// BenchmarkCodec measures the gRPC codec on Series frames of 64 series of a
// day each: marshalling on the sidecar, unmarshalling (with its copy of the
// frame) on the querier, and, for comparison, the same copy decoded by
// gogo's generated code.
func BenchmarkCodec(b *testing.B) {
	codec := encoding.GetCodecV2("proto")
	resp := storepb.NewBatchResponse(benchSeries(64, 48))
	size := int64(resp.Size())
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			data, err := codec.Marshal(resp)
			if err != nil {
				b.Fatal(err)
			}
			data.Free()
		}
	})
	data, err := codec.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	buf := data.Materialize()
	for _, dec := range []struct {
		name      string
		unmarshal func(mem.BufferSlice, *storepb.SeriesResponse) error
	}{
		{"unmarshal", func(d mem.BufferSlice, m *storepb.SeriesResponse) error { return codec.Unmarshal(d, m) }},
		{"unmarshal-gogo", func(d mem.BufferSlice, m *storepb.SeriesResponse) error { return m.Unmarshal(d.Materialize()) }},
	} {
		b.Run(dec.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				var got storepb.SeriesResponse
				if err := dec.unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, &got); err != nil {
					b.Fatal(err)
				}
				if len(got.GetBatch().Series) != 64 {
					b.Fatalf("decoded %d series, want 64", len(got.GetBatch().Series))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/series")
		})
	}
}
