package e2e

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
)

// dashboardQueries are the shapes a dashboard sends at once: rates, offsets
// both ways, subqueries, quantiles out of range, time() arithmetic, topk,
// label_replace. matrix marks those that only an instant query can ask (a
// range vector or subquery result).
var dashboardQueries = []struct {
	expr   string
	matrix bool
}{
	{expr: `rate(http_requests_total[5m])`},
	{expr: `irate(http_requests_total[1m])`},
	{expr: `rate(http_requests_total[5m] offset 10m)`},
	{expr: `rate(http_requests_total[5m] offset -10m)`},
	{expr: `sum by (code) (rate(http_requests_total[5m]))`},
	{expr: `max_over_time(rate(http_requests_total[2m])[10m:1m])`},
	{expr: `quantile_over_time(1.5, temperature_celsius[15m])`},
	{expr: `quantile_over_time(0.5, temperature_celsius[15m])`},
	{expr: `time() / http_requests_total`},
	{expr: `time() - timestamp(temperature_celsius)`},
	{expr: `topk(3, temperature_celsius)`},
	{expr: `label_replace(temperature_celsius, "host", "$1", "instance", "host-(.*)")`},
	{expr: `histogram_quantile(0.9, sum by (le) (rate(request_seconds_bucket[5m])))`},
	{expr: `increase(http_requests_total[30m])`},
	{expr: `resets(http_requests_total[1h])`},
	{expr: `deriv(temperature_celsius[15m])`},
	{expr: `http_requests_total[5m]`, matrix: true},
	{expr: `temperature_celsius[10m:1m]`, matrix: true},
	{expr: `rate(http_requests_total[5m])[15m:1m] offset 5m`, matrix: true},
}

// TestConcurrentQueriesMatchPrometheus fires every shape at once, instant and
// range, three times over, at the query over two replicas and their
// sidecars, and compares each answer with Prometheus's answer to the same
// request: a dashboard's panels must not see each other's values.
func TestConcurrentQueriesMatchPrometheus(t *testing.T) {
	proms := startReplicas(t, 2, richData())
	var endpoints []string
	for _, p := range proms {
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica", "--query.max-concurrent=32")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ts := func(j int) string { return strconv.FormatInt(base.Add(time.Duration(j)*step).Unix(), 10) }
	type request struct {
		name   string
		path   string
		params url.Values
		want   []string
	}
	var requests []request
	for i, dq := range dashboardQueries {
		kinds := []struct {
			path   string
			params url.Values
		}{{"/api/v1/query", url.Values{"time": {ts(200 + 10*i)}}}}
		if !dq.matrix {
			kinds = append(kinds, struct {
				path   string
				params url.Values
			}{"/api/v1/query_range", url.Values{"start": {ts(20)}, "end": {ts(samples)}, "step": {"15"}}})
		}
		for _, k := range kinds {
			params := cloneValues(k.params)
			params.Set("query", dq.expr)
			want := e2etest.API(ctx, t, proms[0].URL(), k.path, params)
			if want.Status != "success" {
				t.Fatalf("Prometheus, %s %s: %s", k.path, dq.expr, want.Error)
			}
			requests = append(requests, request{name: k.path + " " + dq.expr, path: k.path, params: params, want: normalise(t, want.Data, true)})
		}
	}
	if len(requests) < 32 {
		t.Fatalf("only %d requests; the test needs at least 32 at once", len(requests))
	}

	const rounds = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for range rounds {
		for _, req := range requests {
			wg.Go(func() {
				got := e2etest.API(ctx, t, "http://"+q.HTTP, req.path, req.params)
				var msg string
				switch {
				case got.Status != "success":
					msg = fmt.Sprintf("%s: %s %s", req.name, got.Status, got.Error)
				case !reflect.DeepEqual(normalise(t, got.Data, true), req.want):
					msg = fmt.Sprintf("%s:\nours       %.1000v\nPrometheus %.1000v", req.name, normalise(t, got.Data, true), req.want)
				default:
					return
				}
				mu.Lock()
				failed = append(failed, msg)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for i, msg := range failed {
		if i == 3 {
			break
		}
		t.Error(msg)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d concurrent answers differ from Prometheus's", len(failed), rounds*len(requests))
	}
}
