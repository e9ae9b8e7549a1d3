package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// callCompression records the compression of every Series call a server
// receives.
type callCompression struct {
	mu     sync.Mutex
	series []string
}

// methodKey keys the gRPC method name in a call's context.
type methodKey struct{}

func (c *callCompression) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}
func (c *callCompression) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *callCompression) HandleConn(context.Context, stats.ConnStats) {}

func (c *callCompression) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok && ctx.Value(methodKey{}) == "/thanos.Store/Series" {
		c.mu.Lock()
		c.series = append(c.series, h.Compression)
		c.mu.Unlock()
	}
}

func (c *callCompression) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.series)
}

// TestGRPCCompression runs the query with --grpc-compression over a real
// store and checks what the store received, and that the answer decodes.
func TestGRPCCompression(t *testing.T) {
	if _, err := parseQuery(t, "--grpc-compression=gzip"); err == nil {
		t.Error("--grpc-compression=gzip accepted, want an error")
	}
	for _, tc := range []struct {
		flag string
		want string
	}{
		{flag: "", want: ""},
		{flag: "none", want: ""},
		{flag: "snappy", want: "snappy"},
	} {
		t.Run("flag="+tc.flag, func(t *testing.T) {
			db := storetest.OpenTSDB(t, storetest.Series{
				Labels: labels.FromStrings("__name__", "up", "job", "x"), Samples: storetest.Ramp(0, 15_000, 240),
			})
			// The store the query asks, with a stats handler that sees
			// each call's compression.
			store := storetest.Start(t, db, storetest.Options{})
			calls := &callCompression{}
			srv := grpc.NewServer(grpc.StatsHandler(calls))
			storepb.RegisterStoreServer(srv, store)
			infopb.RegisterInfoServer(srv, store)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = srv.Serve(lis) }()
			t.Cleanup(srv.Stop)

			args := []string{"--http-address=127.0.0.1:0", "--grpc-address=127.0.0.1:0", "--endpoint=" + lis.Addr().String()}
			if tc.flag != "" {
				args = append(args, "--grpc-compression="+tc.flag)
			}
			q := startServer(t, append([]string{"query"}, args...)...)

			u := "http://" + q.httpLis.Addr().String() + "/api/v1/query?" + url.Values{"query": {"sum(up)"}, "time": {"1800"}}.Encode()
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get(u)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if sampleValue(body) == "120" {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("query never answered sum(up) = 120 from the store (last error %v)", err)
				}
				time.Sleep(50 * time.Millisecond) // polling, not synchronisation
			}
			got := calls.seen()
			if len(got) == 0 {
				t.Fatal("the store received no Series call")
			}
			for _, c := range got {
				if c != tc.want {
					t.Fatalf("store received Series calls with compression %q, want %q", got, tc.want)
				}
			}
		})
	}
}
