package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// TestAPITwoPhaseSelections queries through selections read in two calls,
// labels first: a store that fails only the second call is a warning with
// partial response and an error without, though PromQL has read the
// selection's warnings before that call's answer; a store silent in the
// second call is a warning at the response timeout, or a 503 at the
// request's; and the series of both calls count once against the series
// limit.
func TestAPITwoPhaseSelections(t *testing.T) {
	failing := storetest.Options{
		ExternalLabels: labels.FromStrings("replica", "c"),
		BeforeSeries: func(_ context.Context, req *storepb.SeriesRequest) error {
			if req.SkipChunks {
				return nil
			}
			return errors.New("no samples today")
		},
	}
	s := startStack(t, stackOptions{stores: append(replicaStores(), failing), twoPhaseSpan: time.Millisecond})
	failed := s.stores[2].Addr()
	for _, path := range []string{"/api/v1/query_range", "/api/v1/query"} {
		params := url.Values{"query": {"rate(up[5m])"}, "start": {"600"}, "end": {"3600"}, "step": {"60"}, "time": {"1800"}}
		a := s.get(t, path, params)
		if a.code != http.StatusOK || len(a.result(t).Result) != 3 {
			t.Fatalf("%s partial: status %d, data %.300s, error %q", path, a.code, a.Data, a.Error)
		}
		if !slices.ContainsFunc(a.Warnings, func(w string) bool { return strings.Contains(w, failed) && strings.Contains(w, "no samples today") }) {
			t.Errorf("%s: warnings %q do not say that store %s failed", path, a.Warnings, failed)
		}
		params.Set("partial_response", "false")
		a = s.get(t, path, params)
		if a.code < 400 || !strings.Contains(a.Error, failed) || !strings.Contains(a.Error, "no samples today") {
			t.Errorf("%s strict: status %d, error %q: want an error saying that store %s failed", path, a.code, a.Error, failed)
		}
	}

	// A store silent in the second call is a store that failed, within the
	// response timeout or the request's.
	silent := storetest.Options{
		ExternalLabels: labels.FromStrings("replica", "c"),
		BeforeSeries: func(ctx context.Context, req *storepb.SeriesRequest) error {
			if req.SkipChunks {
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		},
	}
	s = startStack(t, stackOptions{stores: append(replicaStores(), silent), twoPhaseSpan: time.Millisecond, responseTimeout: 200 * time.Millisecond})
	params := url.Values{"query": {"rate(up[5m])"}, "start": {"600"}, "end": {"3600"}, "step": {"60"}}
	a := s.get(t, "/api/v1/query_range", params)
	if a.code != http.StatusOK || len(a.result(t).Result) != 3 || !slices.ContainsFunc(a.Warnings, func(w string) bool {
		return strings.Contains(w, s.stores[2].Addr()) && strings.Contains(w, "no answer within 200ms")
	}) {
		t.Errorf("silent second call: status %d, warnings %q, error %q: want the other stores' 3 series and a warning naming %s", a.code, a.Warnings, a.Error, s.stores[2].Addr())
	}
	s = startStack(t, stackOptions{stores: append(replicaStores(), silent), twoPhaseSpan: time.Millisecond})
	params.Set("timeout", "1s")
	params.Set("partial_response", "false")
	start := time.Now()
	a = s.get(t, "/api/v1/query_range", params)
	if took := time.Since(start); a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" || took > 10*time.Second {
		t.Errorf("silent second call, strict: status %d, errorType %q, error %q after %s: want a 503 timeout", a.code, a.ErrorType, a.Error, took)
	}

	// Three series, each from two replicas: six.
	for _, c := range []struct {
		maxSeries int
		ok        bool
	}{{6, true}, {5, false}} {
		s = startStack(t, stackOptions{stores: replicaStores(), maxSeries: c.maxSeries, twoPhaseSpan: time.Millisecond})
		a := s.get(t, "/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}})
		if got := a.code == http.StatusOK && len(a.result(t).Result) == 3; got != c.ok {
			t.Errorf("series limit %d: status %d, error %q; want success %v", c.maxSeries, a.code, a.Error, c.ok)
		}
		if !c.ok && !strings.Contains(a.Error, "request-series") {
			t.Errorf("series limit %d: error %q does not name the limit", c.maxSeries, a.Error)
		}
	}
}
