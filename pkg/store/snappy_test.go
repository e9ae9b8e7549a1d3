package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/stats"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// payloads records what a gRPC side received: the compression of each call
// and the sizes of every message before and after decompression.
type payloads struct {
	mu          sync.Mutex
	compression []string
	length      int
	compressed  int
}

func (p *payloads) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (p *payloads) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (p *payloads) HandleConn(context.Context, stats.ConnStats) {}

func (p *payloads) HandleRPC(_ context.Context, s stats.RPCStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s := s.(type) {
	case *stats.InHeader:
		p.compression = append(p.compression, s.Compression)
	case *stats.InPayload:
		p.length += s.Length
		p.compressed += s.CompressedLength
	}
}

// TestSnappyOverGRPC streams series with and without --grpc-compression=snappy:
// the server must see the client's choice, answer in kind, and every label
// must arrive intact through the pooled decompressors.
func TestSnappyOverGRPC(t *testing.T) {
	const n = 3000
	for _, tc := range []struct {
		name     string
		opts     []grpc.CallOption
		want     string
		minRatio float64 // uncompressed / compressed bytes the client receives
	}{
		{name: "none", want: "", minRatio: 1},
		{name: "snappy", opts: []grpc.CallOption{grpc.UseCompressor(store.SnappyCompression)}, want: "snappy", minRatio: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var srvStats, cliStats payloads
			srv := grpc.NewServer(grpc.StatsHandler(&srvStats))
			storepb.RegisterStoreServer(srv, &manySeries{n: n})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(lis) }()
			defer srv.Stop()
			conn, err := grpc.NewClient(lis.Addr().String(),
				grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(&cliStats))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			stream, err := storepb.NewStoreClient(conn).Series(t.Context(), &storepb.SeriesRequest{}, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			var got []labels.Labels
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, labelpb.ZLabelsToPromLabels(resp.GetSeries().Labels))
			}
			if len(got) != n {
				t.Fatalf("received %d series, want %d", len(got), n)
			}
			for i, lset := range got {
				if want := seriesLabels(i); !labels.Equal(lset, want) {
					t.Fatalf("series %d is %s, want %s", i, lset, want)
				}
			}
			for side, s := range map[string]*payloads{"server": &srvStats, "client": &cliStats} {
				if len(s.compression) == 0 || s.compression[0] != tc.want {
					t.Errorf("%s received compression %q, want %q", side, s.compression, tc.want)
				}
			}
			ratio := float64(cliStats.length) / float64(cliStats.compressed)
			if ratio < tc.minRatio {
				t.Errorf("client received %d bytes for %d of messages: ratio %.2f, want at least %.2f",
					cliStats.compressed, cliStats.length, ratio, tc.minRatio)
			}
			if tc.want == "" && cliStats.compressed != cliStats.length {
				t.Errorf("uncompressed call received %d bytes for %d of messages", cliStats.compressed, cliStats.length)
			}
		})
	}
}

// TestSnappyFormat checks that the registered compressor speaks the framed
// snappy stream format, the one Thanos uses under the same name, in both
// directions, and that a pooled writer or reader carries nothing from one
// message into the next.
func TestSnappyFormat(t *testing.T) {
	c := encoding.GetCompressor(store.SnappyCompression)
	if c == nil {
		t.Fatal("no snappy compressor registered")
	}
	messages := []string{strings.Repeat("first message ", 10_000), "second", "", strings.Repeat("x", 200_000)}
	for i, msg := range messages {
		var buf bytes.Buffer
		w, err := c.Compress(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(snappy.NewReader(bytes.NewReader(buf.Bytes())))
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: framed snappy reader got %d bytes (err %v), want %d", i, len(got), err, len(msg))
		}

		var framed bytes.Buffer
		sw := snappy.NewBufferedWriter(&framed)
		if _, err := io.WriteString(sw, msg); err != nil {
			t.Fatal(err)
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := c.Decompress(&framed)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(r)
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: decompressor got %d bytes (err %v), want %d", i, len(got), err, len(msg))
		}
	}
}

// BenchmarkSnappy measures what --grpc-compression=snappy costs per byte of
// Series frames on each side, and what it saves (ratio).
func BenchmarkSnappy(b *testing.B) {
	c := encoding.GetCompressor(store.SnappyCompression)
	msg, err := storepb.NewBatchResponse(store.BenchSeries(64, 48)).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	var compressed bytes.Buffer
	compress := func() {
		compressed.Reset()
		w, _ := c.Compress(&compressed)
		_, _ = w.Write(msg)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	compress()
	b.Run("compress", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			compress()
		}
		b.ReportMetric(float64(len(msg))/float64(compressed.Len()), "ratio")
	})
	b.Run("decompress", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			r, _ := c.Decompress(bytes.NewReader(compressed.Bytes()))
			n, err := io.Copy(io.Discard, r)
			if err != nil || n != int64(len(msg)) {
				b.Fatalf("decompressed %d bytes (err %v), want %d", n, err, len(msg))
			}
		}
	})
}
