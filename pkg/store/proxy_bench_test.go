package store_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// framesClient answers Series with prepared frames from memory. It stands in
// for gRPC only where gRPC would drown what the benchmark measures: the
// proxy's own merge cost.
type framesClient struct {
	storepb.StoreClient
	name   string
	frames []*storepb.SeriesResponse
}

func (c *framesClient) Series(context.Context, *storepb.SeriesRequest, ...grpc.CallOption) (storepb.Store_SeriesClient, error) {
	return &framesStream{frames: c.frames}, nil
}
func (c *framesClient) LabelSets() []labels.Labels         { return nil }
func (c *framesClient) TimeRange() (int64, int64)          { return -1 << 63, 1<<63 - 1 }
func (c *framesClient) SupportsWithoutReplicaLabels() bool { return true }
func (c *framesClient) String() string                     { return c.name }

type framesStream struct {
	grpc.ClientStream
	frames []*storepb.SeriesResponse
}

func (s *framesStream) Recv() (*storepb.SeriesResponse, error) {
	if len(s.frames) == 0 {
		return nil, io.EOF
	}
	f := s.frames[0]
	s.frames = s.frames[1:]
	return f, nil
}

// benchFrames builds one store's answer: series job=<i>, every store holding
// every series (replicas, with different values so no chunk is dropped), in
// batches of 64, one 120-sample chunk each.
func benchFrames(b *testing.B, nSeries int, store int) []*storepb.SeriesResponse {
	chk := chunkenc.NewXORChunk()
	app, err := chk.Appender()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 120 {
		app.Append(int64(i)*15_000, float64(i+store))
	}
	var (
		frames []*storepb.SeriesResponse
		batch  []*storepb.Series
	)
	for i := range nSeries {
		lset := labels.FromStrings("__name__", "up", "instance", fmt.Sprintf("host-%06d:9100", i), "job", "node")
		batch = append(batch, &storepb.Series{
			Labels: labelpb.ZLabelsFromPromLabels(lset),
			Chunks: []storepb.AggrChunk{{MinTime: 0, MaxTime: 119 * 15_000, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chk.Bytes()}}},
		})
		if len(batch) == 64 {
			frames = append(frames, storepb.NewBatchResponse(batch))
			batch = nil
		}
	}
	if len(batch) > 0 {
		frames = append(frames, storepb.NewBatchResponse(batch))
	}
	return frames
}

func BenchmarkProxyMerge(b *testing.B) {
	const nSeries = 10_000
	for _, nStores := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("stores=%d", nStores), func(b *testing.B) {
			var cs []store.Client
			for i := range nStores {
				cs = append(cs, &framesClient{name: fmt.Sprint(i), frames: benchFrames(b, nSeries, i)})
			}
			p := store.NewProxy(clients(cs...), store.ProxyOptions{})
			req := &storepb.SeriesRequest{MinTime: 0, MaxTime: 1 << 40}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				set := p.Series(context.Background(), req, store.SeriesOptions{})
				n := 0
				for set.Next() {
					_, copies := set.At()
					n += len(copies)
				}
				set.Close()
				if set.Err() != nil || n != nSeries*nStores {
					b.Fatalf("got %d series, err %v", n, set.Err())
				}
			}
			perSeries := float64(b.Elapsed().Nanoseconds()) / float64(b.N*nSeries*nStores)
			b.ReportMetric(perSeries, "ns/series")
			b.ReportMetric(perSeries/120, "ns/sample")
		})
	}
}

// BenchmarkProxySeriesGRPC measures the whole path a query pays: two real
// Store API servers over loopback gRPC, the proxy merge and chunk decoding.
func BenchmarkProxySeriesGRPC(b *testing.B) {
	const nSeries = 2_000
	var series []storetest.Series
	for i := range nSeries {
		series = append(series, storetest.Series{
			Labels:  labels.FromStrings("__name__", "up", "instance", fmt.Sprintf("host-%06d:9100", i)),
			Samples: storetest.Ramp(0, 15_000, 240),
		})
	}
	db := storetest.OpenTSDB(b, series...)
	var cs []store.Client
	for _, r := range []string{"a", "b"} {
		srv := storetest.Start(b, db, storetest.Options{ExternalLabels: labels.FromStrings("replica", r), WithoutReplicaLabels: true})
		cs = append(cs, srv.Client(b))
	}
	p := store.NewProxy(clients(cs...), store.ProxyOptions{})
	req := &storepb.SeriesRequest{MinTime: 0, MaxTime: 1 << 40, Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "up"}}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		set := p.Series(context.Background(), req, store.SeriesOptions{})
		n := 0
		for set.Next() {
			n++
		}
		set.Close()
		if set.Err() != nil || n != 2*nSeries {
			b.Fatalf("got %d series, err %v", n, set.Err())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*nSeries), "ns/series")
}
