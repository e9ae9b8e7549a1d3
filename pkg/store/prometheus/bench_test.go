package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/supervise"
)

// BenchmarkSidecarSeries asks a sidecar process for every series of a real
// Prometheus, at two sizes ten times apart, and reports throughput and the
// sidecar's peak resident memory. Streaming means the peak barely moves when
// the response grows tenfold.
func BenchmarkSidecarSeries(b *testing.B) {
	const samplesPerSeries = 240 // one hour at 15 s
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			dataDir := b.TempDir()
			promtest.CreateBlocks(b, dataDir, benchData(n, samplesPerSeries))
			prom := promtest.Start(b, promtest.Config{DataDir: dataDir, ExternalLabels: map[string]string{"replica": "a"}})
			sidecar, client := startSidecar(b, prom.URL())

			req := &storepb.SeriesRequest{
				MinTime: base, MaxTime: base + samplesPerSeries*step,
				Matchers:          []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "bench"}},
				ResponseBatchSize: 64,
			}
			var series, bytes int
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				s, by := drain(b, client, req)
				if s != n {
					b.Fatalf("got %d series, want %d", s, n)
				}
				series += s
				bytes += by
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(series)/elapsed.Seconds(), "series/s")
			b.ReportMetric(float64(bytes)/elapsed.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(peakRSS(b, sidecar.Pid()))/1e6, "sidecar-peak-RSS-MB")
		})
	}
}

// benchData is n gauges with samples each, one every step from base.
func benchData(n, samples int) string {
	series := make([]promtest.Series, n)
	for i := range series {
		s := promtest.Series{
			Labels:  map[string]string{"instance": fmt.Sprintf("host-%05d", i), "job": "bench", "code": fmt.Sprint(200 + i%5)},
			Samples: make([]promtest.Sample, samples),
		}
		for j := range s.Samples {
			s.Samples[j] = promtest.Sample{T: base + int64(j)*step, V: float64(i + j)}
		}
		series[i] = s
	}
	return promtest.OpenMetrics(promtest.Family{Name: "bench", Series: series})
}

// startSidecar runs a sidecar process for the Prometheus at promURL, reading
// its blocks from its data directory as in a pod sharing the volume.
func startSidecar(b *testing.B, promURL string) (*e2etest.Process, storepb.StoreClient) {
	sidecar := e2etest.Sidecar(b, promURL, "--log.level=warn")
	conn, err := grpc.NewClient(sidecar.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return sidecar, storepb.NewStoreClient(conn)
}

func drain(b *testing.B, c storepb.StoreClient, req *storepb.SeriesRequest) (series, bytes int) {
	stream, err := c.Series(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return series, bytes
		}
		if err != nil {
			b.Fatal(err)
		}
		bytes += resp.Size()
		if s := resp.GetSeries(); s != nil {
			series++
		}
		if bt := resp.GetBatch(); bt != nil {
			series += len(bt.Series)
		}
	}
}

// peakRSS reads the process's high-water resident set size.
func peakRSS(b *testing.B, pid int) int64 {
	rss, err := supervise.ReadPeakRSS(pid)
	if err != nil {
		b.Fatal(err)
	}
	return rss
}
