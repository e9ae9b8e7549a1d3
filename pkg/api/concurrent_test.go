package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// concurrentSeries is two hours of counters (with a reset and a gap) and
// gauges, every 15 s from t=0.
func concurrentSeries() []storetest.Series {
	var out []storetest.Series
	for i, code := range []string{"200", "500"} {
		for j := range 8 {
			s := storetest.Series{Labels: labels.FromStrings("__name__", "http_requests_total", "code", code, "instance", fmt.Sprintf("host-%d", j))}
			v := 0.0
			for k := range 480 {
				if k >= 200 && k < 280 && j%3 == 1 {
					continue // twenty minutes without scrapes
				}
				if k == 300 && i == 0 {
					v = 0 // the target restarted
				}
				v += float64(1 + (k*(i+1)+j)%7)
				s.Samples = append(s.Samples, storetest.Sample{T: int64(k) * 15_000, V: v})
			}
			out = append(out, s)
		}
	}
	for i, room := range []string{"east-1", "east-2", "west-1"} {
		s := storetest.Series{Labels: labels.FromStrings("__name__", "temperature", "room", room)}
		for k := range 480 {
			s.Samples = append(s.Samples, storetest.Sample{T: int64(k) * 15_000, V: 20 + 5*math.Sin(float64(k+40*i)/30)})
		}
		out = append(out, s)
	}
	return out
}

// concurrentQueries are the shapes a dashboard sends: instant and range,
// rates, offsets both ways, subqueries, quantiles out of range, time()
// arithmetic, topk, label_replace and matrix results.
var concurrentQueries = []struct {
	expr      string
	rangeToo  bool // also as a range query; false for matrix results
	atTimeSec int64
}{
	{`rate(http_requests_total[5m])`, true, 3600},
	{`irate(http_requests_total[1m])`, true, 3600},
	{`rate(http_requests_total[5m] offset 10m)`, true, 4000},
	{`rate(http_requests_total[5m] offset -10m)`, true, 3000},
	{`sum by (code) (rate(http_requests_total[5m]))`, true, 5000},
	{`max_over_time(rate(http_requests_total[2m])[10m:1m])`, true, 4500},
	{`quantile_over_time(1.5, temperature[15m])`, true, 3600},
	{`quantile_over_time(0.9, temperature[15m])`, true, 3600},
	{`time() / http_requests_total`, true, 3600},
	{`time() - timestamp(temperature)`, true, 3600},
	{`topk(2, temperature)`, true, 2000},
	{`bottomk(1, rate(http_requests_total[5m]))`, true, 6000},
	{`label_replace(temperature, "floor", "$1", "room", "(.*)-.*")`, true, 1000},
	{`increase(http_requests_total[30m])`, true, 6500},
	{`deriv(temperature[10m])`, true, 3600},
	{`avg_over_time(temperature[5m])`, true, 3600},
	{`changes(temperature[30m])`, true, 3600},
	{`resets(http_requests_total[1h])`, true, 7000},
	{`count_over_time(http_requests_total[10m])`, true, 3600},
	{`predict_linear(temperature[10m], 600)`, true, 3600},
	{`sort_desc(sum by (instance) (http_requests_total))`, true, 3600},
	{`http_requests_total @ 3600`, true, 5000},
	{`stddev_over_time(temperature[10m])`, true, 3600},
	{`delta(temperature[10m])`, true, 3600},
	{`last_over_time(temperature[5m])`, true, 3600},
	{`sum(rate(http_requests_total[5m])) / sum(rate(http_requests_total[5m] offset 30m))`, true, 5000},
	{`vector(1) + on() group_left count(temperature)`, true, 3600},
	{`absent(nonexistent)`, true, 3600},
	{`http_requests_total[5m]`, false, 3600},
	{`temperature[10m:2m]`, false, 3600},
	{`rate(http_requests_total[5m])[15m:1m]`, false, 4000},
	{`http_requests_total[2m] offset 1h`, false, 7000},
}

// TestAPIConcurrentQueriesMatchPrometheus sends every shape at once, instant
// and range, twice over, and compares each answer with what Prometheus's
// engine answers over the same TSDB alone. A query that hands its points back
// to the engine's pools before its answer is written shows here as another
// query's values, and as a data race under the race detector. Half the
// requests go to a query whose selections are all two-phase.
func TestAPIConcurrentQueriesMatchPrometheus(t *testing.T) {
	series := concurrentSeries()
	stacks := []*stack{
		startStack(t, stackOptions{stores: replicaStores(), series: series, maxConcurrent: 16}),
		startStack(t, stackOptions{stores: replicaStores(), series: series, maxConcurrent: 16, twoPhaseSpan: time.Millisecond}),
	}
	db := storetest.OpenTSDB(t, series...)
	engine := newEngine(t, 50_000_000, time.Minute)

	type request struct {
		name   string
		path   string
		params url.Values
		want   any
	}
	var requests []request
	ctx := context.Background()
	for _, q := range concurrentQueries {
		at := time.Unix(q.atTimeSec, 0)
		qry, err := engine.NewInstantQuery(ctx, db, nil, q.expr, at)
		if err != nil {
			t.Fatalf("%s: %v", q.expr, err)
		}
		requests = append(requests, request{
			name:   "instant " + q.expr,
			path:   "/api/v1/query",
			params: url.Values{"query": {q.expr}, "time": {strconv.FormatInt(q.atTimeSec, 10)}},
			want:   expected(t, qry),
		})
		if !q.rangeToo {
			continue
		}
		start, end, step := time.Unix(600, 0), time.Unix(7200, 0), 15*time.Second
		qry, err = engine.NewRangeQuery(ctx, db, nil, q.expr, start, end, step)
		if err != nil {
			t.Fatalf("%s: %v", q.expr, err)
		}
		requests = append(requests, request{
			name:   "range " + q.expr,
			path:   "/api/v1/query_range",
			params: url.Values{"query": {q.expr}, "start": {"600"}, "end": {"7200"}, "step": {"15"}},
			want:   expected(t, qry),
		})
	}
	if len(requests) < 32 {
		t.Fatalf("only %d requests; the test needs at least 32 at once", len(requests))
	}

	const rounds = 3
	var wg sync.WaitGroup
	errs := make(chan error, rounds*len(stacks)*len(requests))
	for range rounds {
		for i, s := range stacks {
			for _, req := range requests {
				wg.Go(func() {
					a := s.do(t, ctx, http.MethodPost, req.path, req.params)
					if a.code != http.StatusOK {
						errs <- fmt.Errorf("query %d, %s: status %d: %s", i, req.name, a.code, a.Error)
						return
					}
					var got any
					if err := json.Unmarshal(a.Data, &got); err != nil {
						errs <- fmt.Errorf("query %d, %s: %v", i, req.name, err)
						return
					}
					if !reflect.DeepEqual(got, req.want) {
						errs <- fmt.Errorf("query %d, %s:\n got %s\nwant %s", i, req.name, a.Data, mustJSON(req.want))
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d answers differ from Prometheus's", n, rounds*len(stacks)*len(requests))
	}
}

// expected evaluates qry alone and returns its answer's data as the API
// encodes it, decoded into plain values.
func expected(t *testing.T, qry promql.Query) any {
	t.Helper()
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", qry, res.Err)
	}
	b, err := json.Marshal(struct {
		ResultType string `json:"resultType"`
		Result     any    `json:"result"`
	}{string(res.Value.Type()), res.Value})
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
