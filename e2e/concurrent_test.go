package e2e

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// dashboardQuery is one query a dashboard panel sends. matrix marks those
// that only an instant query can ask (a range vector or subquery result).
type dashboardQuery struct {
	expr   string
	matrix bool
}

// dashboardQueries are the shapes a dashboard sends at once: rates, offsets
// both ways, subqueries, quantiles out of range, time() arithmetic, topk,
// label_replace.
var dashboardQueries = []dashboardQuery{
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
// range, six times over, at the query over two replicas and their
// sidecars, and compares each answer with Prometheus's answer to the same
// request: a dashboard's panels must not see each other's values. It does
// so with the query's selections read in one call each, again with all of
// them two-phase, and with Thanos's engine, whose answers to these shapes
// are Prometheus's too.
func TestConcurrentQueriesMatchPrometheus(t *testing.T) {
	proms := startReplicas(t, 2, richData())
	var endpoints []string
	for _, p := range proms {
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	answersMatchPrometheus(t, proms[0].URL(), endpoints, dashboardQueries, 6)
}

// answersMatchPrometheus asks a query over the sidecars at endpoints each
// of queries, rounds times over and all at once, in every read mode, and
// compares every answer with the Prometheus's at promURL.
func answersMatchPrometheus(t *testing.T, promURL string, endpoints []string, queries []dashboardQuery, rounds int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	requests := prometheusAnswers(ctx, t, promURL, queries)
	forEachReadMode(t, func(t *testing.T, flag string) {
		q := e2etest.Query(t, endpoints, "--query.replica-label=replica", "--query.max-concurrent=32", flag)
		askConcurrently(ctx, t, "http://"+q.HTTP, requests, rounds)
	})
}

// startHeadReplicas starts two replicas of an HA pair whose heads hold
// families, written by remote write, with a sidecar each; it returns the
// first replica's URL and the sidecars' gRPC addresses.
func startHeadReplicas(t *testing.T, families []promtest.Family) (string, []string) {
	t.Helper()
	var (
		first     string
		endpoints []string
	)
	for r := range 2 {
		p := promtest.Start(t, promtest.Config{
			ExternalLabels: map[string]string{"cluster": "eu", "replica": fmt.Sprintf("r%d", r)},
			Args:           []string{"--web.enable-remote-write-receiver"},
		})
		p.RemoteWrite(t, families...)
		if r == 0 {
			first = p.URL()
		}
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	return first, endpoints
}

// TestConcurrentHeadQueriesMatchPrometheus is
// TestConcurrentQueriesMatchPrometheus over the same history written into
// the replicas' heads by remote write, where the sidecars read it through
// remote read: reads that start inside a head chunk come whole from
// Prometheus, and the short ones are cut by the sidecar.
func TestConcurrentHeadQueriesMatchPrometheus(t *testing.T) {
	prom, endpoints := startHeadReplicas(t, richFamilies())
	answersMatchPrometheus(t, prom, endpoints, dashboardQueries, 4)
}

// readMode is one way a query reads its selections, set by a flag.
type readMode struct{ name, flag string }

// selectModes read a query's selections in one call each, and all of them
// two-phase, labels first.
var selectModes = []readMode{
	{"one call per selection", "--query.two-phase-select-span=0"},
	{"two-phase selections", "--query.two-phase-select-span=1m"},
}

// thanosEngine evaluates with Thanos's engine, which reads every selection
// in one call and keeps an iterator open on each of its series for the
// whole query, decoding their chunks a few samples at a time.
var thanosEngine = readMode{"thanos engine", "--query.promql-engine=thanos"}

// forEachSelectMode runs f as a subtest for each of selectModes.
func forEachSelectMode(t *testing.T, f func(t *testing.T, flag string)) {
	forEachMode(t, selectModes, f)
}

// forEachReadMode runs f as a subtest for each of selectModes and for
// Thanos's engine: what a query answers must not depend on how it reads.
func forEachReadMode(t *testing.T, f func(t *testing.T, flag string)) {
	forEachMode(t, append(slices.Clip(selectModes), thanosEngine), f)
}

func forEachMode(t *testing.T, modes []readMode, f func(t *testing.T, flag string)) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) { f(t, mode.flag) })
	}
}

// nativeHistogramQueries are the shapes a dashboard of native histograms
// sends: quantiles of rates, by label and of one series, counts, sums,
// fractions and averages, raw histograms, a gauge histogram, resets and a
// subquery.
var nativeHistogramQueries = []dashboardQuery{
	{expr: `rate(request_duration_native_seconds[5m])`},
	{expr: `histogram_quantile(0.9, sum by (job) (rate(request_duration_native_seconds[5m])))`},
	{expr: `histogram_quantile(0.5, rate(request_duration_native_seconds[5m]))`},
	{expr: `histogram_count(increase(request_duration_native_seconds[10m]))`},
	{expr: `histogram_sum(rate(request_duration_native_seconds[5m]))`},
	{expr: `histogram_fraction(0, 0.5, rate(request_duration_native_seconds[5m]))`},
	{expr: `histogram_avg(sum(rate(request_duration_native_seconds[5m])))`},
	{expr: `request_duration_native_seconds`},
	{expr: `histogram_quantile(0.9, queue_length_native)`},
	{expr: `resets(request_duration_native_seconds[1h])`},
	{expr: `max_over_time(histogram_count(rate(request_duration_native_seconds[2m]))[10m:1m])`},
	{expr: `request_duration_native_seconds[5m]`, matrix: true},
	{expr: `queue_length_native[2m]`, matrix: true},
}

// TestConcurrentNativeHistogramQueriesMatchPrometheus is
// TestConcurrentQueriesMatchPrometheus over native histograms, which reach
// Prometheus by remote write: buckets that appear over time, a counter
// reset, and a gauge histogram.
func TestConcurrentNativeHistogramQueriesMatchPrometheus(t *testing.T) {
	prom, endpoints := startHeadReplicas(t, nativeHistograms())
	answersMatchPrometheus(t, prom, endpoints, nativeHistogramQueries, 4)
}

// nativeHistograms are the targets' request durations as native histograms,
// counters whose slower buckets appear as the hours go on, one reset by a
// restart of its target halfway, and a gauge histogram of queue lengths; the
// same for every replica.
func nativeHistograms() []promtest.Family {
	durations := promtest.Family{Name: "request_duration_native_seconds", Type: "unknown"}
	queues := promtest.Family{Name: "queue_length_native", Type: "unknown"}
	at := func(j int) int64 { return base.Add(time.Duration(j) * step).UnixMilli() }
	for i := range targets {
		labels := map[string]string{"instance": fmt.Sprintf("host-%d", i), "job": "web"}
		d, g := promtest.Series{Labels: labels}, promtest.Series{Labels: labels}
		counts := make([]uint64, 6)
		var sum float64
		for j := range samples {
			if i == 1 && j == samples/2 {
				clear(counts)
				sum = 0
			}
			for b := range counts[:1+min(j/80, len(counts)-1)] {
				n := uint64((i+1)*(b+1) + j%7)
				counts[b] += n
				sum += float64(n) * float64(b+1) / 8
			}
			d.Histograms = append(d.Histograms, promtest.HistogramSample{T: at(j), H: nativeHistogram(counts, sum)})
			gauge := nativeHistogram([]uint64{uint64(j % 5), uint64((j + i) % 3), 1}, float64(j%11))
			gauge.CounterResetHint = histogram.GaugeType
			g.Histograms = append(g.Histograms, promtest.HistogramSample{T: at(j), H: gauge})
		}
		durations.Series = append(durations.Series, d)
		queues.Series = append(queues.Series, g)
	}
	return []promtest.Family{durations, queues}
}

// nativeHistogram is a histogram of exponential schema 0 with counts in
// consecutive buckets from 1/8 up.
func nativeHistogram(counts []uint64, sum float64) *histogram.Histogram {
	h := &histogram.Histogram{
		Schema:        0,
		ZeroThreshold: 1e-128,
		Sum:           sum,
		PositiveSpans: []histogram.Span{{Offset: -3, Length: uint32(len(counts))}},
	}
	var prev int64
	for _, c := range counts {
		h.PositiveBuckets = append(h.PositiveBuckets, int64(c)-prev)
		prev = int64(c)
		h.Count += c
	}
	return h
}

// request is one query to ask and Prometheus's answer to it.
type request struct {
	name   string
	path   string
	params url.Values
	want   []string
}

// prometheusAnswers returns each query as an instant query and, unless it is
// a matrix, as a range query over the fixture's data at a 15 s step, with
// Prometheus's answer to it from promURL.
func prometheusAnswers(ctx context.Context, t *testing.T, promURL string, queries []dashboardQuery) []request {
	t.Helper()
	ts := func(j int) string { return strconv.FormatInt(base.Add(time.Duration(j)*step).Unix(), 10) }
	var requests []request
	for i, dq := range queries {
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
			want := e2etest.API(ctx, t, promURL, k.path, params)
			if want.Status != "success" {
				t.Fatalf("Prometheus, %s %s: %s", k.path, dq.expr, want.Error)
			}
			requests = append(requests, request{name: k.path + " " + dq.expr, path: k.path, params: params, want: normalise(t, want.Data, true)})
		}
	}
	if len(requests) < 20 {
		t.Fatalf("only %d requests; the test needs at least 20 at once", len(requests))
	}
	return requests
}

// askConcurrently sends every request rounds times, all at once, to the
// query at queryURL, and fails the test with the answers that differ from
// Prometheus's.
func askConcurrently(ctx context.Context, t *testing.T, queryURL string, requests []request, rounds int) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []string
	)
	for range rounds {
		for _, req := range requests {
			wg.Go(func() {
				got := e2etest.API(ctx, t, queryURL, req.path, req.params)
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
