package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// within bounds a request that could hang on the code these tests guard.
// Every path but label values takes a POST.
func (s *stack) within(t *testing.T, path string, params url.Values) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	method := http.MethodPost
	if strings.HasPrefix(path, "/api/v1/label/") {
		method = http.MethodGet
	}
	return s.do(t, ctx, method, path, params)
}

// TestAPIExpressionLimits sends expressions too long or too deep for the
// parser to be worth running: each is a 400 naming the limit, and what is
// just under the limits is answered.
func TestAPIExpressionLimits(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	regex := func(n int) string { return `up{job=~"j0|` + strings.Repeat("x", n) + `"}` }
	chain := func(n int) string { return strings.Repeat("1*", n) + "1" }
	for _, tc := range []struct {
		name    string
		path    string
		params  url.Values
		code    int
		message string
	}{
		{"query over 64 KiB", "/api/v1/query", url.Values{"query": {regex(64 << 10)}, "time": {"1800"}}, 400, "more than the limit of 65536"},
		{"query just under 64 KiB", "/api/v1/query", url.Values{"query": {regex(64<<10 - 20)}, "time": {"1800"}}, 200, ""},
		{"range query over 64 KiB", "/api/v1/query_range", url.Values{"query": {regex(64 << 10)}, "start": {"0"}, "end": {"1800"}, "step": {"60"}}, 400, "more than the limit of 65536"},
		{"1,025 operators", "/api/v1/query", url.Values{"query": {chain(1025)}, "time": {"1800"}}, 400, "more than 1024 operators, parentheses and brackets"},
		{"20,000 operators", "/api/v1/query", url.Values{"query": {chain(20_000)}, "time": {"1800"}}, 400, "more than 1024 operators"},
		{"1,025 parentheses", "/api/v1/query", url.Values{"query": {strings.Repeat("(", 1025) + "1" + strings.Repeat(")", 1025)}, "time": {"1800"}}, 400, "more than 1024"},
		{"1,024 operators", "/api/v1/query", url.Values{"query": {chain(1024)}, "time": {"1800"}}, 200, ""},
		{"format_query of 1,025 operators", "/api/v1/format_query", url.Values{"query": {chain(1025)}}, 400, "more than 1024"},
		{"match[] over 64 KiB", "/api/v1/series", url.Values{"match[]": {"up", regex(64 << 10)}}, 400, `invalid parameter "match[]": expression of`},
		{"storeMatch[] over 64 KiB", "/api/v1/labels", url.Values{"storeMatch[]": {regex(64 << 10)}}, 400, "more than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.within(t, tc.path, tc.params)
			if a.code != tc.code || !strings.Contains(a.Error, tc.message) || (tc.code == 400 && a.ErrorType != "bad_data") {
				t.Fatalf("status %d, %s: %q; want %d saying %q", a.code, a.ErrorType, a.Error, tc.code, tc.message)
			}
		})
	}
}

// TestAPIGateCoversEveryEndpoint takes the only slot of
// --query.max-concurrent with a query a store holds: every other endpoint
// that reads the stores or parses PromQL waits for the slot too, and gives
// up at its timeout with a 503 that names the limit.
func TestAPIGateCoversEveryEndpoint(t *testing.T) {
	store, started, release := gated("a")
	s := startStack(t, stackOptions{stores: []storetest.Options{store}, maxConcurrent: 1})
	first := make(chan answer, 1)
	go func() { first <- s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}}) }()
	wait.Receive(t, started, "the first query to reach the store")

	for _, tc := range []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/query", url.Values{"query": {"up"}}},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"1800"}, "step": {"60"}}},
		{"/api/v1/format_query", url.Values{"query": {"up + 1"}}},
		{"/api/v1/series", url.Values{"match[]": {"up"}}},
		{"/api/v1/labels", url.Values{}},
		{"/api/v1/label/job/values", url.Values{}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			tc.params.Set("timeout", "200ms")
			a := s.within(t, tc.path, tc.params)
			if a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" || !strings.Contains(a.Error, "--query.max-concurrent=1") {
				t.Fatalf("status %d, %s: %q; want 503 timeout naming --query.max-concurrent", a.code, a.ErrorType, a.Error)
			}
		})
	}
	close(release)
	if a := wait.Receive(t, first, "the first query"); a.code != http.StatusOK {
		t.Fatalf("the first query: %d %q", a.code, a.Error)
	}
}

// TestAPITimeoutCoversSeriesAndLabels asks for the series of a store that
// never answers: --query.timeout ends the request, with the other stores'
// answer and a warning naming the silent one, or with partial response off
// a 503 timeout.
func TestAPITimeoutCoversSeriesAndLabels(t *testing.T) {
	silent, _, _ := gated("b")
	s := startStack(t, stackOptions{stores: []storetest.Options{{ExternalLabels: labels.FromStrings("replica", "a")}, silent}, queryTimeout: 300 * time.Millisecond})
	a := s.within(t, "/api/v1/series", url.Values{"match[]": {"up"}})
	if a.code != http.StatusOK || len(a.Warnings) == 0 || !strings.Contains(a.Warnings[0], s.stores[1].Addr()) || !strings.Contains(string(a.Data), `"job":"j2"`) {
		t.Fatalf("series with a silent store: status %d, warnings %q, data %s; want the other store's series and a warning naming %s", a.code, a.Warnings, a.Data, s.stores[1].Addr())
	}
	a = s.within(t, "/api/v1/series", url.Values{"match[]": {"up"}, "partial_response": {"false"}})
	if a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" {
		t.Fatalf("series with a silent store, partial response off: status %d, %s: %q; want 503 timeout", a.code, a.ErrorType, a.Error)
	}
}

// TestAPIExpiredRequestSaysSo sends queries whose timeout is over before
// they start, with every slot free: each is a 503 timeout, and none blames
// the slots.
func TestAPIExpiredRequestSaysSo(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	for i := range 20 {
		a := s.within(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}, "timeout": {"0.000000001"}})
		if a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" || strings.Contains(a.Error, "slot") {
			t.Fatalf("query %d: status %d, %s: %q; want 503 timeout not about slots", i, a.code, a.ErrorType, a.Error)
		}
	}
}

// TestAPISelectsPerQuery asks for a dozen selections in one request, as
// series match[] and as PromQL selectors, of a store that takes a while to
// answer each: no more than --query.max-concurrent-select calls reach the
// store at once, and more than one do.
func TestAPISelectsPerQuery(t *testing.T) {
	const selections, limit = 12, 4
	var inFlight, most atomic.Int64
	store := storetest.Options{
		ExternalLabels: labels.FromStrings("replica", "a"),
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			// The store's latency, long enough for unbounded calls to
			// pile up.
			select {
			case <-time.After(50 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}
	s := startStack(t, stackOptions{stores: []storetest.Options{store}, maxSelects: limit})
	var matches, selectors []string
	for i := range selections {
		m := fmt.Sprintf(`up{job!="x%d"}`, i)
		matches = append(matches, m)
		selectors = append(selectors, "count("+m+")")
	}
	for _, tc := range []struct {
		name   string
		path   string
		params url.Values
	}{
		{"series", "/api/v1/series", url.Values{"match[]": matches}},
		{"PromQL", "/api/v1/query", url.Values{"query": {strings.Join(selectors, " + ")}, "time": {"1800"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			most.Store(0)
			if a := s.within(t, tc.path, tc.params); a.code != http.StatusOK {
				t.Fatalf("status %d: %q", a.code, a.Error)
			}
			if got := most.Load(); got < 2 || got > limit {
				t.Fatalf("%d store calls at once, want 2 to %d", got, limit)
			}
			t.Logf("%d store calls at once", most.Load())
		})
	}
}
