package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb/prompb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/remote"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// scripted is a Query API server that answers every call with the same
// messages, then err.
type scripted struct {
	querypb.UnimplementedQueryServer
	messages []*querypb.QueryResponse
	err      error
	// requests receives each instant request.
	requests chan *querypb.QueryRequest
}

func (s *scripted) Query(req *querypb.QueryRequest, srv querypb.Query_QueryServer) error {
	select {
	case s.requests <- req:
	default:
	}
	for _, m := range s.messages {
		if err := srv.Send(m); err != nil {
			return err
		}
	}
	return s.err
}

func serve(t *testing.T, srv querypb.QueryServer) querypb.QueryClient {
	t.Helper()
	g := grpc.NewServer()
	querypb.RegisterQueryServer(g, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return querypb.NewQueryClient(cc)
}

type stringer string

func (s stringer) String() string { return string(s) }

func series(lbls []string, samples ...prompb.Sample) *querypb.QueryResponse {
	return querypb.NewQueryResponse(&prompb.TimeSeries{Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings(lbls...)), Samples: samples})
}

// TestRemoteQueryBoundsWhatItReceives runs remote queries against a server
// that answers well, badly and hostilely, and checks what the engine gets:
// the answer, warnings naming the endpoint, or an error; never more samples
// than the bound, never a crash.
func TestRemoteQueryBoundsWhatItReceives(t *testing.T) {
	ok := series([]string{"job", "a"}, prompb.Sample{Value: 1, Timestamp: 1})
	for _, tc := range []struct {
		name     string
		messages []*querypb.QueryResponse
		err      error
		opts     remote.Options
		rangeOf  int // steps of a range query; 0 for instant
		series   int
		warning  string
		error    string
		limit    bool
	}{
		{name: "an answer", messages: []*querypb.QueryResponse{ok, series([]string{"job", "b"}, prompb.Sample{Value: 2}), querypb.NewQueryStatsResponse(&querypb.QueryStats{SamplesTotal: 9})}, series: 2},
		{name: "warnings name the endpoint", messages: []*querypb.QueryResponse{{Result: &querypb.QueryResponse_Warnings{Warnings: "store down"}}, ok}, series: 1, warning: "remote query leaf:1: store down"},
		{name: "too many samples", messages: []*querypb.QueryResponse{ok, ok, ok}, opts: remote.Options{MaxSamples: 2, PartialResponse: true}, error: "more than 2 samples", limit: true},
		{name: "a series without a sample", messages: []*querypb.QueryResponse{series([]string{"job", "a"})}, error: "without a sample"},
		{name: "a histogram that is not one", messages: []*querypb.QueryResponse{querypb.NewQueryResponse(&prompb.TimeSeries{
			Histograms: []prompb.Histogram{{Count: &prompb.Histogram_CountInt{CountInt: 1}, PositiveSpans: []prompb.BucketSpan{{Offset: 0, Length: 5}}, PositiveDeltas: []int64{1}}}})},
			error: "invalid histogram"},
		{name: "more samples than steps", rangeOf: 2, messages: []*querypb.QueryResponse{series([]string{"job", "a"}, prompb.Sample{Timestamp: 1}, prompb.Sample{Timestamp: 2}, prompb.Sample{Timestamp: 3})}, error: "3 samples in a range of 2 steps"},
		{name: "samples out of order", rangeOf: 5, messages: []*querypb.QueryResponse{series([]string{"job", "a"}, prompb.Sample{Timestamp: 2}, prompb.Sample{Timestamp: 1})}, error: "out of order"},
		{name: "a failure", err: status.Error(codes.Unavailable, "leaf down"), error: "remote query leaf:1: leaf down"},
		{name: "a failure, partial response", err: status.Error(codes.Unavailable, "leaf down"), opts: remote.Options{PartialResponse: true}, warning: "remote query leaf:1: leaf down"},
		{name: "a limit, partial response", err: status.Error(codes.ResourceExhausted, "more than 5 series"), opts: remote.Options{PartialResponse: true}, error: "more than 5 series", limit: true},
		{name: "a bad query, partial response", err: status.Error(codes.InvalidArgument, "parse error"), opts: remote.Options{PartialResponse: true}, error: "parse error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &scripted{messages: tc.messages, err: tc.err}
			ep := endpoint{addr: "leaf:1", client: serve(t, rangeAdapter{srv}), infos: []infopb.TSDBInfo{tsdb(0, 1<<62, "cluster", "c0")}}
			engines := remote.NewEndpoints([]remote.Endpoint{ep}, nil, tc.opts).Engines()
			start := time.Unix(100, 0)
			end, step := start, time.Duration(0)
			if tc.rangeOf > 0 {
				step = time.Second
				end = start.Add(time.Duration(tc.rangeOf-1) * step)
			}
			q, err := engines[0].NewRangeQuery(context.Background(), nil, stringer("up"), start, end, step)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			res := q.Exec(context.Background())
			if tc.error != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tc.error) || store.IsLimit(res.Err) != tc.limit {
					t.Fatalf("error %v (limit %v), want one mentioning %q (limit %v)", res.Err, store.IsLimit(res.Err), tc.error, tc.limit)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			var n int
			switch v := res.Value.(type) {
			case promql.Vector:
				n = len(v)
				for _, s := range v {
					if s.T != start.UnixMilli() {
						t.Errorf("sample at %d, want the evaluation time %d", s.T, start.UnixMilli())
					}
				}
			case promql.Matrix:
				n = len(v)
			}
			if n != tc.series {
				t.Errorf("%d series, want %d", n, tc.series)
			}
			warnings := fmt.Sprint(res.Warnings.AsErrors())
			if (tc.warning == "") != (len(res.Warnings) == 0) || !strings.Contains(warnings, tc.warning) {
				t.Errorf("warnings %s, want %q", warnings, tc.warning)
			}
		})
	}
}

// rangeAdapter answers QueryRange with the scripted instant messages.
type rangeAdapter struct{ *scripted }

func (r rangeAdapter) QueryRange(req *querypb.QueryRangeRequest, srv querypb.Query_QueryRangeServer) error {
	for _, m := range r.messages {
		var out *querypb.QueryRangeResponse
		switch v := m.Result.(type) {
		case *querypb.QueryResponse_Timeseries:
			out = querypb.NewQueryRangeResponse(v.Timeseries)
		case *querypb.QueryResponse_Warnings:
			out = &querypb.QueryRangeResponse{Result: &querypb.QueryRangeResponse_Warnings{Warnings: v.Warnings}}
		case *querypb.QueryResponse_Stats:
			out = querypb.NewQueryRangeStatsResponse(v.Stats)
		default:
			return errors.New("unexpected message")
		}
		if err := srv.Send(out); err != nil {
			return err
		}
	}
	return r.err
}

// TestRemoteQueryRequest checks what a remote query asks: the request's
// replica labels, dedup and partial response, the look-back, a batch size,
// the plan with its string, and a timeout no later than the request's.
func TestRemoteQueryRequest(t *testing.T) {
	srv := &scripted{requests: make(chan *querypb.QueryRequest, 1)}
	ep := endpoint{addr: "leaf:1", client: serve(t, srv), infos: []infopb.TSDBInfo{tsdb(0, 1<<62, "cluster", "c0")}}
	opts := remote.Options{ReplicaLabels: []string{"replica"}, Dedup: true, PartialResponse: true}
	engine := remote.NewEndpoints([]remote.Endpoint{ep}, nil, opts).Engines()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := engine.NewRangeQuery(ctx, promql.NewPrometheusQueryOpts(false, 2*time.Minute), stringer("sum(up)"), time.Unix(100, 0), time.Unix(100, 0), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if res := q.Exec(ctx); res.Err != nil {
		t.Fatal(res.Err)
	}
	req := <-srv.requests
	if req.Query != "sum(up)" || req.TimeSeconds != 100 || !req.EnableDedup || !req.EnablePartialResponse ||
		strings.Join(req.ReplicaLabels, ",") != "replica" || req.LookbackDeltaSeconds != 120 || req.ResponseBatchSize != 64 ||
		req.TimeoutSeconds < 1 || req.TimeoutSeconds > 30 {
		t.Errorf("request %+v", req)
	}
}
