package api_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/tandem-metrics/tandem/pkg/api"
	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// stack is the query path under test: stores over gRPC, proxy, engine, API,
// served over loopback HTTP.
type stack struct {
	url    string
	stores []*storetest.Server
}

type stackOptions struct {
	stores          []storetest.Options
	dead            []storetest.Options // clients of stopped servers
	responseTimeout time.Duration
	routePrefix     string
	ready           func() bool
	engineTimeout   time.Duration // a minute when zero
	queryTimeout    time.Duration // --query.timeout; none when zero
	maxConcurrent   int           // 4 when zero
	maxSamples      int           // 50M when zero
	maxSeries       int
	series          []storetest.Series // every live store's data; upSeries() when nil
	maxSelects      int                // --query.max-concurrent-select; 4 when zero
	twoPhaseSpan    time.Duration      // --query.two-phase-select-span
	sources         api.Sources        // none offering any API when nil
	sourcesPartial  api.SourcesPartialResponse
}

// upSeries is the data every live store holds: up{job="j0".."j2"} every 15s
// for an hour from t=0.
func upSeries() []storetest.Series {
	var out []storetest.Series
	for i := range 3 {
		out = append(out, storetest.Series{
			Labels:  labels.FromStrings("__name__", "up", "job", fmt.Sprintf("j%d", i)),
			Samples: storetest.Ramp(0, 15_000, 240),
		})
	}
	return out
}

func replicaStores() []storetest.Options {
	return []storetest.Options{
		{ExternalLabels: labels.FromStrings("replica", "a"), WithoutReplicaLabels: true},
		{ExternalLabels: labels.FromStrings("replica", "b")},
	}
}

func startStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	s := &stack{}
	var clients []store.Client
	if o.series == nil {
		o.series = upSeries()
	}
	for _, so := range o.stores {
		srv := storetest.Start(t, storetest.OpenTSDB(t, o.series...), so)
		s.stores = append(s.stores, srv)
		clients = append(clients, srv.Client(t))
	}
	for _, so := range o.dead {
		srv := storetest.Start(t, storetest.OpenTSDB(t), so)
		srv.Stop()
		s.stores = append(s.stores, srv)
		clients = append(clients, storetest.Dial(t, srv.Addr(), so))
	}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{ResponseTimeout: o.responseTimeout})
	if o.sources == nil {
		o.sources = fanout.New(func(discovery.API) []fanout.Endpoint { return nil }, fanout.Options{})
	}
	if o.engineTimeout == 0 {
		o.engineTimeout = time.Minute
	}
	if o.maxConcurrent == 0 {
		o.maxConcurrent = 4
	}
	if o.maxSamples == 0 {
		o.maxSamples = 50_000_000
	}
	if o.maxSelects == 0 {
		o.maxSelects = 4
	}
	reg := prometheus.NewRegistry()
	a := api.New(api.Options{
		Engine:    newEngine(t, o.maxSamples, o.engineTimeout),
		Queryable: func(opts query.Options) storage.Queryable { return query.NewQueryable(proxy, opts) },
		Defaults: query.Options{
			Dedup:           true,
			ReplicaLabels:   []string{"replica"},
			PartialResponse: true,
			MaxSeries:       o.maxSeries,
			// As the query binary does.
			MaxConcurrentSelects: o.maxSelects,
			TwoPhaseSpan:         o.twoPhaseSpan,
		},
		Sources:                o.sources,
		SourcesPartialResponse: o.sourcesPartial,
		Timeout:                o.queryTimeout,
		MaxConcurrent:          o.maxConcurrent,
		RoutePrefix:            o.routePrefix,
		Ready:                  o.ready,
		Gatherer:               reg,
		Registerer:             reg,
		Flags:                  map[string]string{"query.timeout": "2m"},
		Now:                    func() time.Time { return time.Unix(1800, 0) },
	})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	s.url = srv.URL + o.routePrefix
	return s
}

// engineFlag picks the engine the stack evaluates with; the API must work
// alike with either (TestAPIWithThanosEngine runs every test again with
// -engine=thanos).
var engineFlag = flag.String("engine", "prometheus", "PromQL engine of the API under test: prometheus or thanos")

// newEngine returns the PromQL engine the stack evaluates with; tests that
// compare with the engine alone evaluate with one built alike.
func newEngine(t testing.TB, maxSamples int, timeout time.Duration) promql.QueryEngine {
	t.Helper()
	set, err := engine.New(engine.Options{EngineOpts: engineOpts(maxSamples, timeout), Default: engine.Name(*engineFlag)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	return set.Default()
}

func engineOpts(maxSamples int, timeout time.Duration) promql.EngineOpts {
	return promql.EngineOpts{
		MaxSamples:               maxSamples,
		Timeout:                  timeout,
		LookbackDelta:            5 * time.Minute,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	}
}

// answer is the decoded envelope of an API answer.
type answer struct {
	code      int
	header    http.Header
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

func (s *stack) get(t *testing.T, path string, params url.Values) answer {
	t.Helper()
	return s.do(t, context.Background(), http.MethodGet, path, params)
}

func (s *stack) do(t *testing.T, ctx context.Context, method, path string, params url.Values) answer {
	t.Helper()
	var (
		req *http.Request
		err error
	)
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, s.url+path+"?"+params.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(path, "/api/") {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, body)
		}
	} else {
		a.Data = body
	}
	return a
}

// vectorOrMatrix is a query result, enough to count series.
type queryResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
	} `json:"result"`
}

func (a answer) result(t *testing.T) queryResult {
	t.Helper()
	var r queryResult
	if err := json.Unmarshal(a.Data, &r); err != nil {
		t.Fatalf("data is not a query result: %v\n%s", err, a.Data)
	}
	return r
}
