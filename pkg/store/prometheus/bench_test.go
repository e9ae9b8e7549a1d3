package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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
			b.ReportMetric(float64(peakRSS(b, sidecar.Process.Pid))/1e6, "sidecar-peak-RSS-MB")
		})
	}
}

func benchData(n, samples int) string {
	var sb strings.Builder
	sb.WriteString("# TYPE bench gauge\n")
	for i := range n {
		lbls := fmt.Sprintf(`{instance="host-%05d",job="bench",code="%d"}`, i, 200+i%5)
		for j := range samples {
			fmt.Fprintf(&sb, "bench%s %d %.3f\n", lbls, i+j, float64(base+int64(j)*step)/1000)
		}
	}
	sb.WriteString("# EOF\n")
	return sb.String()
}

func startSidecar(b *testing.B, promURL string) (*exec.Cmd, storepb.StoreClient) {
	addrs := promtest.FreeAddrs(b, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	cmd := exec.Command(promtest.Binary(b, "tandem"), "sidecar", "--prometheus.url="+promURL,
		"--grpc-address="+grpcAddr, "--http-address="+httpAddr, "--log.level=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	info := infopb.NewInfoClient(conn)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := info.Info(ctx, &infopb.InfoRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("sidecar not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, storepb.NewStoreClient(conn)
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
