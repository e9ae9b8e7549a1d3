package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// richData is richFamilies as OpenMetrics, for blocks.
func richData() string { return promtest.OpenMetrics(richFamilies()...) }

// richFamilies are one replica's history of a counter with a reset, a gauge
// and a classic histogram, two hours at 15 s with a hole in the gauge.
func richFamilies() []promtest.Family {
	rng := rand.New(rand.NewPCG(7, 7))
	at := func(j int) int64 { return base.Add(time.Duration(j) * step).UnixMilli() }

	requests := promtest.Family{Name: "http_requests", Type: "counter"}
	for _, code := range []string{"200", "500"} {
		for i := range targets {
			s := promtest.Series{Labels: map[string]string{"code": code, "instance": fmt.Sprintf("host-%d", i), "job": "web"}}
			var v float64
			for j := range samples {
				if j == samples/2 && i == 1 {
					v = 0 // a target restart
				}
				v += float64(rng.IntN(50))
				s.Samples = append(s.Samples, promtest.Sample{T: at(j), V: v})
			}
			requests.Series = append(requests.Series, s)
		}
	}

	temperature := promtest.Family{Name: "temperature_celsius", Type: "gauge"}
	for i := range targets {
		s := promtest.Series{Labels: map[string]string{"instance": fmt.Sprintf("host-%d", i), "job": "sensors"}}
		for j := range samples {
			if i == 0 && j >= 100 && j < 140 { // a 10 min hole, longer than the lookback delta
				continue
			}
			s.Samples = append(s.Samples, promtest.Sample{T: at(j), V: 20 + 5*math.Sin(float64(j)/30+float64(i)) + rng.Float64()})
		}
		temperature.Series = append(temperature.Series, s)
	}

	buckets := promtest.Family{Name: "request_seconds_bucket", Type: "unknown"}
	les := []string{"0.1", "0.5", "1", "+Inf"}
	counts := make([]float64, len(les))
	series := make([]promtest.Series, len(les))
	for k, le := range les {
		series[k] = promtest.Series{Labels: map[string]string{"le": le, "job": "web"}}
	}
	for j := range samples {
		var cum float64
		for k := range les {
			counts[k] += float64(rng.IntN(20))
			cum += counts[k]
			series[k].Samples = append(series[k].Samples, promtest.Sample{T: at(j), V: cum})
		}
	}
	buckets.Series = series
	return []promtest.Family{requests, temperature, buckets}
}

// queryCases are PromQL expressions with %s where the selectors' extra
// matchers go.
var queryCases = []string{
	`http_requests_total{%s}`,
	`rate(http_requests_total{%s}[5m])`,
	`sum by (code) (rate(http_requests_total{%s}[5m]))`,
	`increase(http_requests_total{code="500",%s}[10m])`,
	`resets(http_requests_total{%s}[1h])`,
	`temperature_celsius{%s}`,
	`max_over_time(temperature_celsius{%s}[10m])`,
	`avg(temperature_celsius{%s}) by (job)`,
	`topk(2, temperature_celsius{%s})`,
	`temperature_celsius{%s} offset 30m`,
	`deriv(temperature_celsius{%s}[15m])`,
	`histogram_quantile(0.9, sum by (le) (rate(request_seconds_bucket{%s}[5m])))`,
	`count(http_requests_total{%s}) by (job)`,
	`absent(no_such_metric{%s})`,
	`label_replace(temperature_celsius{%s}, "host", "$1", "instance", "host-(.*)")`,
	`temperature_celsius{%s} > 22 and on (instance) rate(http_requests_total{code="200",%s}[5m]) > 0`,
}

// TestQueryMatchesPrometheus asks our querier, over two replicas and their
// sidecars, what each replica's Prometheus is asked directly: instant and
// range queries must give the same series and the same values, with dedup
// off and one replica selected as well as with dedup on (the replicas hold
// the same samples).
func TestQueryMatchesPrometheus(t *testing.T) {
	proms := startReplicas(t, 2, richData())
	var endpoints []string
	for _, p := range proms {
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ts := func(j int) string { return strconv.FormatInt(base.Add(time.Duration(j)*step).Unix(), 10) }
	kinds := []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/query", url.Values{"time": {ts(300)}}},
		{"/api/v1/query", url.Values{"time": {ts(130)}}}, // inside the gauge's hole
		{"/api/v1/query_range", url.Values{"start": {ts(0)}, "end": {ts(samples)}, "step": {"60"}}},
	}
	for _, expr := range queryCases {
		for _, k := range kinds {
			for _, dedup := range []bool{false, true} {
				name := fmt.Sprintf("%s %s dedup=%v", k.path, expr, dedup)
				ours, theirs := cloneValues(k.params), cloneValues(k.params)
				theirs.Set("query", strings.ReplaceAll(expr, "%s", ""))
				ours.Set("query", strings.ReplaceAll(expr, "%s", `replica="r0"`))
				ours.Set("dedup", strconv.FormatBool(dedup))
				if dedup {
					ours.Set("query", theirs.Get("query"))
				}
				want := e2etest.API(ctx, t, proms[0].URL(), k.path, theirs)
				got := e2etest.API(ctx, t, "http://"+q.HTTP, k.path, ours)
				if got.Status != "success" || want.Status != "success" {
					t.Fatalf("%s: ours %s %s, Prometheus %s %s", name, got.Status, got.Error, want.Status, want.Error)
				}
				gotRes := normalise(t, got.Data, dedup)
				if wantRes := normalise(t, want.Data, dedup); !reflect.DeepEqual(gotRes, wantRes) {
					t.Errorf("%s:\nours       %v\nPrometheus %v", name, gotRes, wantRes)
				}
			}
		}
	}
}

// normalise turns a query result into comparable lines, one per series,
// sorted, without the external labels the sidecars add. With dedup on the
// replica label must already be gone.
func normalise(t *testing.T, data json.RawMessage, dedup bool) []string {
	t.Helper()
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var series []struct {
		Metric     map[string]string `json:"metric"`
		Value      []any             `json:"value"`
		Values     [][]any           `json:"values"`
		Histogram  []any             `json:"histogram"`
		Histograms [][]any           `json:"histograms"`
	}
	if d.ResultType != "vector" && d.ResultType != "matrix" {
		return []string{string(data)}
	}
	if err := json.Unmarshal(d.Result, &series); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range series {
		if _, ok := s.Metric["replica"]; ok && dedup {
			t.Errorf("replica label in a deduplicated result: %v", s.Metric)
		}
		delete(s.Metric, "replica")
		delete(s.Metric, "cluster")
		out = append(out, fmt.Sprint(s.Metric, s.Value, s.Values, s.Histogram, s.Histograms))
	}
	sort.Strings(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			t.Errorf("duplicate series %s", out[i])
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// startReplicas starts n Prometheus replicas of the same OpenMetrics
// history, with external labels cluster=eu and replica=r0..r(n-1).
func startReplicas(t *testing.T, n int, om string) []*promtest.Server {
	t.Helper()
	var out []*promtest.Server
	for r := range n {
		dir := t.TempDir()
		promtest.CreateBlocks(t, dir, om)
		out = append(out, promtest.Start(t, promtest.Config{DataDir: dir,
			ExternalLabels: map[string]string{"cluster": "eu", "replica": fmt.Sprintf("r%d", r)}}))
	}
	return out
}
