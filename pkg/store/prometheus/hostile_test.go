package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/promtest"
)

// TestSeriesBatchSizeFromTheWire asks for every response_batch_size a client
// can send, the absurd ones included: each call streams every series, in
// batches of at most the asked size and never more than 1,024 series, and
// the sidecar stays up for the next.
func TestSeriesBatchSizeFromTheWire(t *testing.T) {
	const n = 1100
	f := promtest.Family{Name: "many", Type: "gauge"}
	for i := range n {
		f.Series = append(f.Series, promtest.Series{
			Labels:  map[string]string{"i": fmt.Sprintf("%04d", i)},
			Samples: []promtest.Sample{{T: base, V: 1}, {T: base + step, V: 2}},
		})
	}
	e := setupWith(t, promtest.OpenMetrics(f))
	for _, tc := range []struct {
		size      int64
		wantBatch int // largest batch; 0: one series per message
	}{
		{size: math.MinInt64},
		{size: -1},
		{size: 0},
		{size: 1},
		{size: 3, wantBatch: 3},
		{size: 64, wantBatch: 64},
		{size: 1 << 31, wantBatch: 1024},
		{size: 1 << 40, wantBatch: 1024},
		{size: 1 << 62, wantBatch: 1024},
		{size: math.MaxInt64, wantBatch: 1024},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			stream, err := e.client.Series(t.Context(), &storepb.SeriesRequest{
				MinTime: base, MaxTime: base + step, ResponseBatchSize: tc.size,
				Matchers: []storepb.LabelMatcher{eq("__name__", "many")},
			})
			if err != nil {
				t.Fatal(err)
			}
			var got, largest int
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("after %d series: %v", got, err)
				}
				if b := resp.GetBatch(); b != nil {
					got += len(b.Series)
					largest = max(largest, len(b.Series))
				} else if resp.GetSeries() != nil {
					got++
				}
			}
			if got != n || largest != tc.wantBatch {
				t.Fatalf("%d series, largest batch %d; want %d series, largest batch %d", got, largest, n, tc.wantBatch)
			}
		})
	}
}

// FuzzSidecarSeries sends arbitrary Series requests to a sidecar over a
// real Prometheus, through loopback gRPC: each is answered, with series or
// with a gRPC status, never a crash or an unbounded allocation; batches
// stay within their bound, the series limit holds and the series come
// sorted.
func FuzzSidecarSeries(f *testing.F) {
	all := []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}}
	end := base + samples*step
	for _, r := range []storepb.SeriesRequest{
		{MinTime: base, MaxTime: end, Matchers: all},
		{MinTime: base, MaxTime: end, Matchers: all, ResponseBatchSize: 1 << 62, Limit: 3},
		{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Matchers: []storepb.LabelMatcher{eq("replica", "r1")}, SkipChunks: true},
		{MinTime: base, MaxTime: end, Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_NRE, Name: "b", Value: "("}}},
		{MinTime: base, MaxTime: end, Matchers: all, WithoutReplicaLabels: []string{"replica", "a", ""}, ResponseBatchSize: 2,
			QueryHints: &storepb.QueryHints{StepMillis: -1, Func: &storepb.Func{Name: "rate"}, Grouping: &storepb.Grouping{By: true, Labels: []string{"job"}}}},
	} {
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e := setup(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var req storepb.SeriesRequest
		if req.Unmarshal(msg) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		stream, err := e.client.Series(ctx, &req)
		if err != nil {
			t.Fatal(err)
		}
		var (
			last     labels.Labels
			distinct int64
			warned   bool
		)
		add := func(s *storepb.Series) {
			lset := labelpb.ZLabelsToPromLabels(s.Labels)
			if c := labels.Compare(lset, last); distinct == 0 || c != 0 {
				if c < 0 && distinct > 0 && !warned {
					t.Fatalf("%s after %s: out of order without a warning", lset, last)
				}
				distinct++
				last = lset.Copy()
			}
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if status.Code(err) == codes.Unknown || ctx.Err() != nil {
					t.Fatalf("%+v: %v, want a gRPC status in time", &req, err)
				}
				return
			}
			switch {
			case resp.GetBatch() != nil:
				if n := len(resp.GetBatch().Series); n > 1024 || int64(n) > max(req.ResponseBatchSize, 1) {
					t.Fatalf("batch of %d series, asked for %d", n, req.ResponseBatchSize)
				}
				for _, s := range resp.GetBatch().Series {
					add(s)
				}
			case resp.GetSeries() != nil:
				add(resp.GetSeries())
			case resp.GetWarning() != "":
				warned = true
			}
		}
		if req.Limit > 0 && distinct > req.Limit {
			t.Fatalf("%d series, limit %d", distinct, req.Limit)
		}
	})
}
