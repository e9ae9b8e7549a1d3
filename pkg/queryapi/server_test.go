package queryapi_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/promql-engine/logicalplan"
	"github.com/thanos-io/promql-engine/query"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/queryapi"
	"github.com/tandem-metrics/tandem/pkg/queryapi/queryapitest"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// series is the data of every store: up{job} and a counter per code, every
// 15 s for an hour from t=0.
func series() []storetest.Series {
	var out []storetest.Series
	for i := range 3 {
		out = append(out, storetest.Series{
			Labels:  labels.FromStrings("__name__", "up", "job", fmt.Sprintf("j%d", i)),
			Samples: storetest.Ramp(0, 15_000, 240),
		}, storetest.Series{
			Labels:  labels.FromStrings("__name__", "requests_total", "code", fmt.Sprintf("%d00", i+2)),
			Samples: storetest.Ramp(0, 15_000, 240),
		})
	}
	return out
}

func replicas() []storetest.Options {
	return []storetest.Options{
		{ExternalLabels: labels.FromStrings("cluster", "c0", "replica", "a"), WithoutReplicaLabels: true},
		{ExternalLabels: labels.FromStrings("cluster", "c0", "replica", "b")},
	}
}

// answer is what a Query or QueryRange call sent, in order.
type answer struct {
	series   []string // canonical, sorted
	warnings []string
	messages int  // series messages
	statsAt  int  // index of the stats message, -1 if none
	last     bool // stats came last
}

type stream interface {
	Recv() (*querypb.QueryResponse, error)
}

type rangeStream struct {
	querypb.Query_QueryRangeClient
}

func (r rangeStream) Recv() (*querypb.QueryResponse, error) {
	m, err := r.Query_QueryRangeClient.Recv()
	if err != nil {
		return nil, err
	}
	return queryapi.AsInstant(m), nil
}

func read(s stream) (answer, error) {
	a := answer{statsAt: -1}
	for i := 0; ; i++ {
		m, err := s.Recv()
		if err == io.EOF {
			a.last = a.statsAt == i-1
			slices.Sort(a.series)
			return a, nil
		}
		if err != nil {
			return a, err
		}
		switch v := m.Result.(type) {
		case *querypb.QueryResponse_Warnings:
			a.warnings = append(a.warnings, v.Warnings)
		case *querypb.QueryResponse_Stats:
			a.statsAt = i
		case *querypb.QueryResponse_Timeseries:
			a.messages++
			a.series = append(a.series, canonicalSeries(v.Timeseries.Labels, v.Timeseries.Samples))
		case *querypb.QueryResponse_TimeseriesBatch:
			a.messages++
			for _, ts := range v.TimeseriesBatch.Series {
				a.series = append(a.series, canonicalSeries(ts.Labels, ts.Samples))
			}
		}
	}
}

func canonicalSeries(zl []labelpb.ZLabel, samples any) string {
	return fmt.Sprint(labelpb.ZLabelsToPromLabels(zl), " ", samples)
}

// expected is the engine's own answer over the leaf's data, canonical.
func expected(t *testing.T, v parser.Value) []string {
	t.Helper()
	var out []string
	switch v := v.(type) {
	case promql.Vector:
		for _, s := range v {
			out = append(out, fmt.Sprint(s.Metric, " ", fmt.Sprintf("[{%v %d}]", s.F, s.T)))
		}
	case promql.Matrix:
		for _, s := range v {
			var pts []string
			for _, p := range s.Floats {
				pts = append(pts, fmt.Sprintf("{%v %d}", p.F, p.T))
			}
			out = append(out, fmt.Sprint(s.Metric, " ", "["+strings.Join(pts, " ")+"]"))
		}
	case promql.Scalar:
		out = append(out, fmt.Sprint(labels.EmptyLabels(), " ", fmt.Sprintf("[{%v %d}]", v.V, v.T)))
	default:
		t.Fatalf("unexpected value %T", v)
	}
	slices.Sort(out)
	return out
}

// TestQueryAPIAnswersAsTheEngine asks the Query API for instant and range
// queries, with each engine and batch size, and compares every answer with
// what the engine answers over the same data directly.
func TestQueryAPIAnswersAsTheEngine(t *testing.T) {
	leaf := queryapitest.Start(t, queryapitest.Options{Stores: replicas(), Series: series()})
	ctx := context.Background()
	queries := []string{
		"up", `sum by (job) (up)`, `rate(requests_total[5m])`, `topk(2, rate(requests_total[5m]))`,
		`avg(up)`, `scalar(sum(up))`, `up{job="none"}`, `count(up) by (cluster)`,
	}
	for _, name := range []engine.Name{engine.Prometheus, engine.Thanos} {
		e, err := leaf.Engines.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		typ := querypb.EngineType(querypb.EngineType_value[string(name)])
		for _, qs := range queries {
			for _, batch := range []int64{0, 1, 2, 5000} {
				t.Run(fmt.Sprintf("%s/%s/batch %d", name, qs, batch), func(t *testing.T) {
					q := leaf.Queryable(leaf.Defaults)
					inst, err := e.NewInstantQuery(ctx, q, nil, qs, time.Unix(1800, 0))
					if err != nil {
						t.Fatal(err)
					}
					defer inst.Close()
					s, err := leaf.Client.Query(ctx, &querypb.QueryRequest{Query: qs, TimeSeconds: 1800, EnableDedup: true,
						EnablePartialResponse: true, Engine: typ, ResponseBatchSize: batch})
					if err != nil {
						t.Fatal(err)
					}
					check(t, s, expected(t, inst.Exec(ctx).Value), batch)

					rng, err := e.NewRangeQuery(ctx, q, nil, qs, time.Unix(600, 0), time.Unix(3000, 0), time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					defer rng.Close()
					rs, err := leaf.Client.QueryRange(ctx, &querypb.QueryRangeRequest{Query: qs, StartTimeSeconds: 600, EndTimeSeconds: 3000,
						IntervalSeconds: 60, EnableDedup: true, EnablePartialResponse: true, Engine: typ, ResponseBatchSize: batch})
					if err != nil {
						t.Fatal(err)
					}
					check(t, rangeStream{rs}, expected(t, rng.Exec(ctx).Value), batch)
				})
			}
		}
	}
}

func mustParse(t *testing.T, qs string) parser.Expr {
	t.Helper()
	e, err := parser.ParseExpr(qs)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func check(t *testing.T, s stream, want []string, batch int64) {
	t.Helper()
	got, err := read(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.series, want) {
		t.Errorf("answer differs from the engine's:\n got %q\nwant %q", got.series, want)
	}
	if !got.last {
		t.Errorf("stats message at %d, want it last", got.statsAt)
	}
	size := max(batch, 1)
	if wantMsgs := (len(want) + int(size) - 1) / int(size); got.messages != wantMsgs {
		t.Errorf("%d series in %d messages, want %d with batch size %d", len(want), got.messages, wantMsgs, batch)
	}
}

// TestQueryAPIPlan checks that Thanos's engine evaluates the plan a query
// above sends, that Prometheus's evaluates the query string, and that a
// plan that does not decode, or decodes into nonsense, falls back to the
// string rather than failing or crashing.
func TestQueryAPIPlan(t *testing.T) {
	leaf := queryapitest.Start(t, queryapitest.Options{Stores: replicas(), Series: series()})
	at := time.Unix(1800, 0)
	plan, err := logicalplan.NewFromAST(mustParse(t, `sum(up)`), &query.Options{Start: at, End: at}, logicalplan.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sumUp, err := logicalplan.Marshal(plan.Root())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		engine querypb.EngineType
		query  string
		plan   []byte
		want   string // the only series, canonical; empty for an error
		code   codes.Code
	}{
		{"thanos evaluates the plan", querypb.EngineType_thanos, "this is not promql", sumUp, "{} [{360 1800000}]", codes.OK},
		{"prometheus evaluates the string", querypb.EngineType_prometheus, "this is not promql", sumUp, "", codes.InvalidArgument},
		{"a plan that is not JSON", querypb.EngineType_thanos, "count(up)", []byte("{"), "{} [{3 1800000}]", codes.OK},
		{"a plan without children", querypb.EngineType_thanos, "count(up)", []byte(`{"type":"aggregation","data":{}}`), "{} [{3 1800000}]", codes.OK},
		{"a plan of an unknown node", querypb.EngineType_thanos, "count(up)", []byte(`{"type":"nonsense"}`), "{} [{3 1800000}]", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := leaf.Client.Query(ctx, &querypb.QueryRequest{Query: tc.query, QueryPlan: &querypb.QueryPlan{Encoding: &querypb.QueryPlan_Json{Json: tc.plan}},
				TimeSeconds: 1800, EnableDedup: true, Engine: tc.engine})
			if err != nil {
				t.Fatal(err)
			}
			got, err := read(s)
			if code := status.Code(err); code != tc.code {
				t.Fatalf("code %s (%v), want %s", code, err, tc.code)
			}
			if tc.want != "" && !slices.Equal(got.series, []string{tc.want}) {
				t.Errorf("answer %q, want %q", got.series, tc.want)
			}
		})
	}
}

// TestQueryAPIErrors checks that a query above can tell a bad request, a
// limit, a timeout and a failed store apart, and that partial response
// turns a dead store into a warning naming it.
func TestQueryAPIErrors(t *testing.T) {
	blocked := make(chan struct{})
	t.Cleanup(func() { close(blocked) })
	stuck := storetest.Options{ExternalLabels: labels.FromStrings("replica", "a"), BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
		select {
		case <-blocked:
		case <-ctx.Done():
		}
		return ctx.Err()
	}}
	failing := storetest.Options{ExternalLabels: labels.FromStrings("replica", "b"), BeforeSeries: func(context.Context, *storepb.SeriesRequest) error {
		return status.Error(codes.Unavailable, "prometheus is down")
	}}
	noSamples := storetest.Options{ExternalLabels: labels.FromStrings("replica", "b"), BeforeSeries: func(_ context.Context, req *storepb.SeriesRequest) error {
		if req.SkipChunks {
			return nil
		}
		return status.Error(codes.Unavailable, "prometheus is down")
	}}
	twoPhase := queryapitest.Options{Stores: []storetest.Options{replicas()[0], noSamples}, TwoPhaseSpan: time.Millisecond}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		leaf     queryapitest.Options
		instant  *querypb.QueryRequest
		rng      *querypb.QueryRangeRequest
		code     codes.Code
		message  string
		warnings []string
	}{
		{name: "bad query", instant: &querypb.QueryRequest{Query: "sum(", TimeSeconds: 1800}, code: codes.InvalidArgument, message: "unclosed left parenthesis"},
		{name: "range query of a matrix", rng: &querypb.QueryRangeRequest{Query: "up[5m]", StartTimeSeconds: 0, EndTimeSeconds: 60, IntervalSeconds: 15}, code: codes.InvalidArgument},
		{name: "end before start", rng: &querypb.QueryRangeRequest{Query: "up", StartTimeSeconds: 60, EndTimeSeconds: 0, IntervalSeconds: 15}, code: codes.InvalidArgument, message: "end time before start"},
		{name: "no step", rng: &querypb.QueryRangeRequest{Query: "up", StartTimeSeconds: 0, EndTimeSeconds: 60}, code: codes.InvalidArgument, message: "step"},
		{name: "too many points", rng: &querypb.QueryRangeRequest{Query: "up", StartTimeSeconds: 0, EndTimeSeconds: 1_000_000, IntervalSeconds: 1}, code: codes.InvalidArgument, message: "11,000 points"},
		{name: "sharded", instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, ShardInfo: &storepb.ShardInfo{ShardIndex: 0, TotalShards: 2}}, code: codes.InvalidArgument, message: "sharded"},
		{name: "unknown engine", instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, Engine: 7}, code: codes.InvalidArgument, message: "unknown engine"},
		{name: "max samples", leaf: queryapitest.Options{MaxSamples: 100}, instant: &querypb.QueryRequest{Query: "sum_over_time(up[1h])", TimeSeconds: 3600, EnableDedup: true},
			code: codes.ResourceExhausted, message: "too many samples"},
		{name: "max samples, thanos engine", leaf: queryapitest.Options{MaxSamples: 100, Engine: engine.Thanos}, instant: &querypb.QueryRequest{Query: "sum_over_time(up[1h])", TimeSeconds: 3600, EnableDedup: true},
			code: codes.ResourceExhausted, message: "too many samples"},
		{name: "store series limit", leaf: queryapitest.Options{MaxSeries: 2}, instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, EnableDedup: true, EnablePartialResponse: true},
			code: codes.ResourceExhausted, message: "more than 2 series"},
		{name: "timeout", leaf: queryapitest.Options{Stores: []storetest.Options{stuck}}, instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, TimeoutSeconds: 1},
			code: codes.DeadlineExceeded},
		{name: "failed store", leaf: queryapitest.Options{Stores: []storetest.Options{replicas()[0], failing}}, instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, EnableDedup: true},
			code: codes.Aborted, message: "prometheus is down"},
		{name: "failed store, partial response", leaf: queryapitest.Options{Stores: []storetest.Options{replicas()[0], failing}},
			instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, EnableDedup: true, EnablePartialResponse: true},
			code:    codes.OK, warnings: []string{"prometheus is down"}},
		// Read in two calls, labels first, the store fails after PromQL
		// has read the selection's warnings.
		{name: "failed second call of a two-phase selection", leaf: twoPhase, instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, EnableDedup: true},
			code: codes.Aborted, message: "prometheus is down"},
		{name: "failed second call of a two-phase selection, partial response", leaf: twoPhase,
			instant: &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, EnableDedup: true, EnablePartialResponse: true},
			code:    codes.OK, warnings: []string{"prometheus is down"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.leaf.Stores == nil {
				tc.leaf.Stores = replicas()
			}
			tc.leaf.Series = series()
			leaf := queryapitest.Start(t, tc.leaf)
			var (
				got answer
				err error
			)
			if tc.instant != nil {
				var s querypb.Query_QueryClient
				if s, err = leaf.Client.Query(ctx, tc.instant); err == nil {
					got, err = read(s)
				}
			} else {
				var s querypb.Query_QueryRangeClient
				if s, err = leaf.Client.QueryRange(ctx, tc.rng); err == nil {
					got, err = read(rangeStream{s})
				}
			}
			if code := status.Code(err); code != tc.code || !strings.Contains(fmt.Sprint(err), tc.message) {
				t.Fatalf("error %v (%s), want %s mentioning %q", err, code, tc.code, tc.message)
			}
			if len(got.warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", got.warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(got.warnings[i], w) || !strings.Contains(got.warnings[i], leaf.Stores[1].Addr()) {
					t.Errorf("warning %q, want one naming the store %s and %q", got.warnings[i], leaf.Stores[1].Addr(), w)
				}
			}
		})
	}
}

// TestQueryAPIConcurrencyLimit checks that beyond MaxConcurrent a query
// waits for a slot, until its timeout.
func TestQueryAPIConcurrencyLimit(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	gated := storetest.Options{ExternalLabels: labels.FromStrings("replica", "a"), BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	leaf := queryapitest.Start(t, queryapitest.Options{Stores: []storetest.Options{gated}, Series: series(), MaxConcurrent: 1})
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		s, err := leaf.Client.Query(ctx, &querypb.QueryRequest{Query: "up", TimeSeconds: 1800})
		if err == nil {
			_, err = read(s)
		}
		first <- err
	}()
	wait.Receive(t, started, "the first query to reach the store")
	s, err := leaf.Client.Query(ctx, &querypb.QueryRequest{Query: "up", TimeSeconds: 1800, TimeoutSeconds: 1})
	if err == nil {
		_, err = read(s)
	}
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "free query slot") {
		t.Errorf("query beyond the limit: %v, want DeadlineExceeded waiting for a slot", err)
	}
	close(release)
	if err := wait.Receive(t, first, "the first query to finish"); err != nil {
		t.Errorf("first query: %v", err)
	}
}

// TestInfoAnnouncesQueryAPI checks what a distributed engine above reads
// from Info: the Query API, and the TSDBs behind the stores with their
// external labels and time ranges.
func TestInfoAnnouncesQueryAPI(t *testing.T) {
	stores := []storetest.Options{
		{ExternalLabels: labels.FromStrings("cluster", "c0", "replica", "a"), MinTime: 1000, MaxTime: 9000},
		{ExternalLabels: labels.FromStrings("cluster", "c0", "replica", "b"), MinTime: 2000, MaxTime: 9000},
	}
	leaf := queryapitest.Start(t, queryapitest.Options{Stores: stores, Series: series()})
	info, err := leaf.Info.Info(context.Background(), &infopb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Query == nil || info.Store == nil {
		t.Fatalf("Info: query API %v, store API %v; want both", info.Query, info.Store)
	}
	var got []string
	for _, ti := range info.Store.TsdbInfos {
		got = append(got, fmt.Sprint(ti.Labels.PromLabels(), ti.MinTime, ti.MaxTime))
	}
	want := []string{`{cluster="c0", replica="a"} 1000 9000`, `{cluster="c0", replica="b"} 2000 9000`}
	if !slices.Equal(got, want) {
		t.Errorf("TSDB infos %q, want %q", got, want)
	}
}
