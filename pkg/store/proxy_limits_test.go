package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// endlessStore never ends its answer: frame after frame until the call is
// cancelled or maxFrames is reached, each frame either one more chunk of
// the same series (later in time, as a long series continues) or a new
// series.
type endlessStore struct {
	storepb.UnimplementedStoreServer
	sameSeries bool
	maxFrames  int
	chunk      func(i int) storepb.AggrChunk // of frame i
}

func (s *endlessStore) Series(_ *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	for i := range s.maxFrames {
		c := s.chunk(i)
		job := "endless"
		if !s.sameSeries {
			job = fmt.Sprintf("job-%09d", i)
		}
		series := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings("__name__", "up", "job", job)), Chunks: []storepb.AggrChunk{c}}
		if err := srv.Send(storepb.NewSeriesResponse(series)); err != nil {
			return err
		}
	}
	return nil
}

func startEndless(t *testing.T, s *endlessStore) string {
	return serve(t, func(g *grpc.Server) { storepb.RegisterStoreServer(g, s) })
}

// TestProxyBoundsEndlessStores feeds the proxy stores that never stop
// sending, with partial response on: each is cut off by a bound and named.
// A request's limit fails the request; a store that breaks the per-series
// bound is a broken store, and so a warning.
func TestProxyBoundsEndlessStores(t *testing.T) {
	// Frame i holds the i-th half hour of a series scraped every 15 s.
	chunk := func(n int, padding int) func(int) storepb.AggrChunk {
		return func(i int) storepb.AggrChunk {
			c := xorChunk(t, int64(i)*1_800_000, n)
			c.Raw.Data = append(c.Raw.Data, make([]byte, padding)...) // bytes the decoder never reads
			return c
		}
	}
	for _, tc := range []struct {
		name    string
		store   *endlessStore
		limiter *store.Limiter
		want    string
		warning bool
	}{
		{
			name:    "one series forever",
			store:   &endlessStore{sameSeries: true, maxFrames: 10_000, chunk: chunk(120, 64<<10)},
			want:    "more than 64 MiB of chunks",
			warning: true,
		},
		{
			name:    "one series forever, sample limit",
			store:   &endlessStore{sameSeries: true, maxFrames: 10_000, chunk: chunk(120, 0)},
			limiter: store.NewLimiter(0, 100_000),
			want:    "more than 100000 samples",
		},
		{
			name:    "new series forever, series limit",
			store:   &endlessStore{maxFrames: 1_000_000, chunk: chunk(2, 0)},
			limiter: store.NewLimiter(50_000, 0),
			want:    "more than 50000 series",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startEndless(t, tc.store)
			p := store.NewProxy(clients(storetest.Dial(t, addr, storetest.Options{})), store.ProxyOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			set := p.Series(ctx, seriesRequest(t, 0, 1<<40, metricUp), store.SeriesOptions{Limiter: tc.limiter})
			defer set.Close()
			n := 0
			for set.Next() {
				n++
			}
			err := set.Err()
			if tc.warning {
				if err != nil || len(set.Warnings()) != 1 {
					t.Fatalf("after %d series: error %v, warnings %v; want one warning", n, err, set.Warnings())
				}
				err = set.Warnings()[0]
			} else if len(set.Warnings()) > 0 {
				t.Errorf("a limit is not a partial answer: warnings %v", set.Warnings())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("after %d series: %v, want an error naming the store and %q", n, err, tc.want)
			}
		})
	}
}

// TestProxyServerBoundsItsAnswer checks the Store API of a querier: frames
// hold at most the requested number of series whatever is asked, and the
// series limit applies to the gRPC path as to PromQL.
func TestProxyServerBoundsItsAnswer(t *testing.T) {
	var series []storetest.Series
	for i := range 2000 {
		series = append(series, storetest.Series{
			Labels:  labels.FromStrings("__name__", "up", "job", fmt.Sprintf("j%04d", i)),
			Samples: storetest.Ramp(0, 15_000, 4),
		})
	}
	below := storetest.Start(t, storetest.OpenTSDB(t, series...), storetest.Options{}).Client(t)
	serve := func(limits store.ServerLimits) storepb.StoreClient {
		server := store.NewProxyServer(store.NewProxy(clients(below), store.ProxyOptions{}), limits)
		return storetest.Dial(t, serveProxy(t, server), storetest.Options{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	unlimited := serve(store.ServerLimits{})
	for _, tc := range []struct {
		batch, wantMax int64
	}{{0, 1}, {1, 1}, {64, 64}, {1 << 62, 1024}} {
		req := seriesRequest(t, 0, 1<<40, metricUp)
		req.ResponseBatchSize = tc.batch
		stream, err := unlimited.Series(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		total, largest := 0, 0
		for {
			resp, err := stream.Recv()
			if err != nil {
				break
			}
			n := 1
			if b := resp.GetBatch(); b != nil {
				n = len(b.Series)
			}
			total, largest = total+n, max(largest, n)
		}
		if total != len(series) || int64(largest) > tc.wantMax {
			t.Errorf("batch size %d: %d series, frames of up to %d; want %d, at most %d a frame", tc.batch, total, largest, len(series), tc.wantMax)
		}
	}

	limited := serve(store.ServerLimits{MaxSeries: 100})
	stream, err := limited.Series(ctx, seriesRequest(t, 0, 1<<40, metricUp))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "more than 100 series") {
		t.Errorf("over the series limit: %v, want ResourceExhausted naming the limit", err)
	}
}
