package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// FuzzProxyServerSeries sends arbitrary Series requests to a querier's Store
// API over real gRPC, in front of two replicas: whatever the request, the
// server answers or fails the call, within the time given, in frames of at
// most the bound, and the process lives on.
func FuzzProxyServerSeries(f *testing.F) {
	var series []storetest.Series
	for i := range 50 {
		series = append(series, storetest.Series{
			Labels:  labels.FromStrings("__name__", "up", "job", fmt.Sprintf("j%02d", i)),
			Samples: storetest.Ramp(0, 15_000, 200),
		})
	}
	var below []store.Client
	for _, r := range []string{"a", "b"} {
		opts := storetest.Options{ExternalLabels: labels.FromStrings("replica", r), WithoutReplicaLabels: r == "a"}
		below = append(below, storetest.Start(f, storetest.OpenTSDB(f, series...), opts).Client(f))
	}
	server := store.NewProxyServer(store.NewProxy(clients(below...), store.ProxyOptions{}), store.ServerLimits{MaxSeries: 1000})
	client := storetest.Dial(f, serveProxy(f, server), storetest.Options{})

	seed := func(r storepb.SeriesRequest) {
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	up := []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "up"}}
	seed(storepb.SeriesRequest{MaxTime: 1 << 40, Matchers: up})
	seed(storepb.SeriesRequest{MaxTime: 1 << 40, Matchers: up, ResponseBatchSize: 1 << 62, WithoutReplicaLabels: []string{"replica"}})
	seed(storepb.SeriesRequest{MinTime: 1 << 40, MaxTime: -1, Matchers: up, SkipChunks: true, Limit: -3})
	seed(storepb.SeriesRequest{MaxTime: 1 << 40, Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "job", Value: "(("}}})
	seed(storepb.SeriesRequest{MaxTime: 1 << 40, Matchers: []storepb.LabelMatcher{{Type: 99, Name: "", Value: ""}}, PartialResponseDisabled: true})

	f.Fuzz(func(t *testing.T, data []byte) {
		var req storepb.SeriesRequest
		if err := req.Unmarshal(data); err != nil {
			t.Skip()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := client.Series(ctx, &req)
		if err != nil {
			return
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					t.Fatalf("no answer within 10 s: %v", err)
				}
				return
			}
			if b := resp.GetBatch(); b != nil && len(b.Series) > 1024 {
				t.Fatalf("a frame of %d series, more than the bound", len(b.Series))
			}
		}
	})
}
