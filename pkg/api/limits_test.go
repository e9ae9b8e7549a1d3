package api_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// gated returns store options whose Series calls, once started, wait until
// release is closed (or their context ends).
func gated(replica string) (opts storetest.Options, started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 16), make(chan struct{})
	return storetest.Options{
		ExternalLabels: labels.FromStrings("replica", replica),
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			started <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	}, started, release
}

// TestAPIConcurrencyLimit checks --query.max-concurrent: a query beyond
// the limit waits for a slot, and gives up with a 503 at its timeout.
func TestAPIConcurrencyLimit(t *testing.T) {
	store, started, release := gated("a")
	s := startStack(t, stackOptions{stores: []storetest.Options{store}, maxConcurrent: 1})
	instant := url.Values{"query": {"up"}, "time": {"1800"}}

	first := make(chan answer, 1)
	go func() { first <- s.get(t, "/api/v1/query", instant) }()
	wait.Receive(t, started, "the first query to reach the store")

	// The only slot is taken: a query, or a call of the endpoints that
	// read the stores' other APIs, that may wait 300ms gets a timeout.
	short := url.Values{"query": {"up"}, "time": {"1800"}, "timeout": {"300ms"}}
	for _, path := range []string{"/api/v1/query", "/api/v1/rules", "/api/v1/alerts", "/api/v1/targets", "/api/v1/metadata", "/api/v1/query_exemplars"} {
		if a := s.get(t, path, short); a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" ||
			!strings.Contains(a.Error, "no query slot free within the timeout (--query.max-concurrent=1)") {
			t.Errorf("%s beyond the limit: status %d, %s: %q; want 503 timeout waiting for a slot", path, a.code, a.ErrorType, a.Error)
		}
	}

	// One that may wait longer queues and runs once the slot is free.
	queued := make(chan answer, 1)
	go func() { queued <- s.get(t, "/api/v1/query", instant) }()
	close(release)
	for _, ch := range []chan answer{first, queued} {
		if a := wait.Receive(t, ch, "a query to finish"); a.code != http.StatusOK || len(a.result(t).Result) != 3 {
			t.Errorf("status %d, data %s, error %q", a.code, a.Data, a.Error)
		}
	}
}

// TestAPIQueryLimits checks the limits that fail a query with Prometheus's
// error types instead of exhausting the process.
func TestAPIQueryLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      stackOptions
		params    url.Values
		code      int
		errorType string
		message   string
	}{
		{
			name:   "max samples",
			opts:   stackOptions{stores: replicaStores(), maxSamples: 100},
			params: url.Values{"query": {"sum_over_time(up[1h])"}, "time": {"3600"}},
			code:   http.StatusUnprocessableEntity, errorType: "execution",
			message: "query processing would load too many samples into memory",
		},
		{
			name:   "series per query",
			opts:   stackOptions{stores: replicaStores(), maxSeries: 5},
			params: url.Values{"query": {"up"}, "time": {"1800"}, "dedup": {"false"}},
			code:   http.StatusUnprocessableEntity, errorType: "execution",
			message: "more than 5 series",
		},
		{
			name:   "series per query, summed over selections",
			opts:   stackOptions{stores: replicaStores(), maxSeries: 7},
			params: url.Values{"query": {`up{job="j0"} + up{job=~"j.*"}`}, "time": {"1800"}, "dedup": {"false"}},
			code:   http.StatusUnprocessableEntity, errorType: "execution",
			message: "more than 7 series",
		},
		{
			name:   "series limit counts each replica's copy",
			opts:   stackOptions{stores: replicaStores(), maxSeries: 5},
			params: url.Values{"query": {"up"}, "time": {"1800"}},
			code:   http.StatusUnprocessableEntity, errorType: "execution",
			message: "more than 5 series",
		},
		{
			name:   "series limit not reached",
			opts:   stackOptions{stores: replicaStores(), maxSeries: 6},
			params: url.Values{"query": {"up"}, "time": {"1800"}},
			code:   http.StatusOK,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, tc.opts)
			a := s.get(t, "/api/v1/query", tc.params)
			if a.code != tc.code || a.ErrorType != tc.errorType || !strings.Contains(a.Error, tc.message) {
				t.Errorf("status %d, %q: %q; want %d, %q: %q", a.code, a.ErrorType, a.Error, tc.code, tc.errorType, tc.message)
			}
		})
	}
}

// TestAPITimeoutCappedByQueryTimeout checks that a request cannot ask for
// more time than --query.timeout allows.
func TestAPITimeoutCappedByQueryTimeout(t *testing.T) {
	store, _, _ := gated("a")
	s := startStack(t, stackOptions{stores: []storetest.Options{store}, queryTimeout: 300 * time.Millisecond})
	a := s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}, "timeout": {"1h"}, "partial_response": {"false"}})
	if a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" {
		t.Errorf("status %d, %s: %q; want 503 timeout after --query.timeout (data %s, warnings %q)", a.code, a.ErrorType, a.Error, a.Data, a.Warnings)
	}
}

// TestAPIResultLimit checks the limit parameter of query and query_range as
// Prometheus 3 answers it: at most limit series, a warning when it cut, and
// 400 for a value that is not a count.
func TestAPIResultLimit(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	for _, tc := range []struct {
		name    string
		path    string
		params  url.Values
		code    int
		series  int
		warning bool
		err     string
	}{
		{name: "instant, cut", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}, "limit": {"1"}}, code: 200, series: 1, warning: true},
		{name: "range, cut", path: "/api/v1/query_range", params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "limit": {"2"}}, code: 200, series: 2, warning: true},
		{name: "not reached", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}, "limit": {"3"}}, code: 200, series: 3},
		{name: "zero is none", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}, "limit": {"0"}}, code: 200, series: 3},
		{name: "negative", path: "/api/v1/query", params: url.Values{"query": {"up"}, "limit": {"-5"}}, code: 400, err: `invalid parameter "limit": limit must be non-negative`},
		{name: "not a number", path: "/api/v1/query_range", params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"60"}, "step": {"60"}, "limit": {"x"}}, code: 400, err: `invalid parameter "limit"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.get(t, tc.path, tc.params)
			if a.code != tc.code || !strings.Contains(a.Error, tc.err) {
				t.Fatalf("status %d, error %q; want %d, %q", a.code, a.Error, tc.code, tc.err)
			}
			if tc.code != http.StatusOK {
				if a.ErrorType != "bad_data" {
					t.Errorf("errorType %q, want bad_data", a.ErrorType)
				}
				return
			}
			if got := len(a.result(t).Result); got != tc.series {
				t.Errorf("%d series, want %d", got, tc.series)
			}
			if got := slices.Contains(a.Warnings, "results truncated due to limit"); got != tc.warning {
				t.Errorf("truncation warning %v, want %v: %q", got, tc.warning, a.Warnings)
			}
		})
	}
}
