package store_test

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

// benchBatch is one Series frame as a sidecar sends it: a batch of 64
// series, each with a chunk of two hours of a counter scraped every 15 s
// with a few milliseconds of jitter.
func benchBatch(b *testing.B) *storepb.SeriesResponse {
	rng := rand.New(rand.NewPCG(1, 2))
	var batch []*storepb.Series
	for i := range 64 {
		chk := chunkenc.NewXORChunk()
		app, err := chk.Appender()
		if err != nil {
			b.Fatal(err)
		}
		v := 0.0
		for j := range 480 {
			v += float64(rng.IntN(100))
			app.Append(int64(j)*15_000+int64(rng.IntN(20)), v)
		}
		lset := labels.FromStrings("__name__", "http_requests_total", "code", "200", "instance", fmt.Sprintf("host-%05d:9100", i), "job", "node")
		batch = append(batch, &storepb.Series{
			Labels: labelpb.ZLabelsFromPromLabels(lset),
			Chunks: []storepb.AggrChunk{{MaxTime: 479 * 15_000, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chk.Bytes()}}},
		})
	}
	return storepb.NewBatchResponse(batch)
}

// BenchmarkCodec measures the gRPC codec on Series frames: marshalling on
// the sidecar, unmarshalling (with its copy of the frame) on the querier.
func BenchmarkCodec(b *testing.B) {
	codec := encoding.GetCodecV2("proto")
	resp := benchBatch(b)
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
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			var got storepb.SeriesResponse
			if err := codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, &got); err != nil {
				b.Fatal(err)
			}
			if len(got.GetBatch().Series) != 64 {
				b.Fatalf("decoded %d series, want 64", len(got.GetBatch().Series))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/series")
	})
}
