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

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

func TestAPIDedup(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	for _, tc := range []struct {
		name   string
		path   string
		params url.Values
		want   int
	}{
		{name: "query dedup", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}}, want: 3},
		{name: "query no dedup", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}, "dedup": {"false"}}, want: 6},
		{name: "range dedup", path: "/api/v1/query_range", params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}}, want: 3},
		{name: "range no dedup", path: "/api/v1/query_range", params: url.Values{"query": {"up"}, "start": {"0"}, "end": {"3600"}, "step": {"60"}, "dedup": {"0"}}, want: 6},
		{name: "other replica label", path: "/api/v1/query", params: url.Values{"query": {"up"}, "time": {"1800"}, "replicaLabels[]": {"job"}}, want: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.get(t, tc.path, tc.params)
			if a.code != http.StatusOK {
				t.Fatalf("status %d: %s", a.code, a.Error)
			}
			if got := len(a.result(t).Result); got != tc.want {
				t.Fatalf("%d series, want %d: %s", got, tc.want, a.Data)
			}
		})
	}
	t.Run("series endpoint", func(t *testing.T) {
		for dedup, want := range map[string]string{
			"true":  `[{"__name__":"up","job":"j0"},{"__name__":"up","job":"j1"},{"__name__":"up","job":"j2"}]`,
			"false": `[{"__name__":"up","job":"j0","replica":"a"},{"__name__":"up","job":"j0","replica":"b"},{"__name__":"up","job":"j1","replica":"a"},{"__name__":"up","job":"j1","replica":"b"},{"__name__":"up","job":"j2","replica":"a"},{"__name__":"up","job":"j2","replica":"b"}]`,
		} {
			a := s.get(t, "/api/v1/series", url.Values{"match[]": {"up"}, "dedup": {dedup}})
			if string(a.Data) != want {
				t.Errorf("dedup=%s:\n got %s\nwant %s", dedup, a.Data, want)
			}
		}
		a := s.get(t, "/api/v1/series", url.Values{"match[]": {"up"}, "limit": {"2"}})
		if !strings.Contains(string(a.Data), `"j1"`) || strings.Contains(string(a.Data), `"j2"`) || !slices.Contains(a.Warnings, "results truncated due to limit") {
			t.Errorf("limit=2: got %s, warnings %q", a.Data, a.Warnings)
		}
	})
}

func TestAPIPartialResponse(t *testing.T) {
	dead := storetest.Options{ExternalLabels: labels.FromStrings("replica", "c")}
	s := startStack(t, stackOptions{stores: replicaStores(), dead: []storetest.Options{dead}})
	deadAddr := s.stores[2].Addr()

	a := s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}})
	if a.code != http.StatusOK || len(a.result(t).Result) != 3 {
		t.Fatalf("partial: status %d, data %s, error %q", a.code, a.Data, a.Error)
	}
	if !slices.ContainsFunc(a.Warnings, func(w string) bool { return strings.Contains(w, deadAddr) }) {
		t.Errorf("warnings %q do not name the dead store %s", a.Warnings, deadAddr)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a partial answer, want no-store", cc)
	}

	for _, path := range []string{"/api/v1/query", "/api/v1/series", "/api/v1/labels"} {
		a = s.get(t, path, url.Values{"query": {"up"}, "match[]": {"up"}, "time": {"1800"}, "partial_response": {"false"}})
		if a.code < 400 || a.Status != "error" || !strings.Contains(a.Error, deadAddr) {
			t.Errorf("%s strict: status %d, error %q: want a 4xx/5xx error naming %s", path, a.code, a.Error, deadAddr)
		}
	}
}

// blocking returns store options whose Series calls wait for their context
// to end and report why on the returned channel, once they have started.
func blocking(replica string) (storetest.Options, chan struct{}, chan error) {
	started, saw := make(chan struct{}, 1), make(chan error, 1)
	return storetest.Options{
		ExternalLabels: labels.FromStrings("replica", replica),
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			started <- struct{}{}
			<-ctx.Done()
			saw <- ctx.Err()
			return ctx.Err()
		},
	}, started, saw
}

func TestAPIStoreTimeout(t *testing.T) {
	t.Run("response timeout is a warning", func(t *testing.T) {
		slow, _, saw := blocking("c")
		s := startStack(t, stackOptions{stores: append(replicaStores(), slow), responseTimeout: 200 * time.Millisecond})
		a := s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}})
		if a.code != http.StatusOK || len(a.result(t).Result) != 3 {
			t.Fatalf("status %d, data %s, error %q", a.code, a.Data, a.Error)
		}
		if !slices.ContainsFunc(a.Warnings, func(w string) bool {
			return strings.Contains(w, s.stores[2].Addr()) && strings.Contains(w, "no answer within 200ms")
		}) {
			t.Errorf("warnings %q do not name the silent store and the timeout", a.Warnings)
		}
		if err := wait.Receive(t, saw, "the store to see its call end"); !errors.Is(err, context.Canceled) {
			t.Errorf("store saw %v, want context.Canceled", err)
		}
	})
	t.Run("a store stuck past the request's timeout is a warning with partial response", func(t *testing.T) {
		slow, _, saw := blocking("c")
		s := startStack(t, stackOptions{stores: append(replicaStores(), slow)})
		start := time.Now()
		a := s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}, "timeout": {"1s"}})
		if took := time.Since(start); a.code != http.StatusOK || len(a.result(t).Result) != 3 || took >= time.Second {
			t.Fatalf("status %d after %s, data %s, error %q: want the live stores' 3 series within the timeout", a.code, took, a.Data, a.Error)
		}
		if !slices.ContainsFunc(a.Warnings, func(w string) bool {
			return strings.Contains(w, s.stores[2].Addr()) && strings.Contains(w, "deadline")
		}) {
			t.Errorf("warnings %q do not name the stuck store", a.Warnings)
		}
		if err := wait.Receive(t, saw, "the store to see its call end"); err == nil {
			t.Error("store call was not ended")
		}
	})
	t.Run("a store stuck past the request's timeout is a 503 naming it without partial response", func(t *testing.T) {
		slow, _, saw := blocking("c")
		s := startStack(t, stackOptions{stores: append(replicaStores(), slow)})
		a := s.get(t, "/api/v1/query", url.Values{"query": {"up"}, "time": {"1800"}, "timeout": {"200ms"}, "partial_response": {"false"}})
		if a.code != http.StatusServiceUnavailable || a.ErrorType != "timeout" || !strings.Contains(a.Error, s.stores[2].Addr()) {
			t.Errorf("status %d, errorType %q, error %q: want 503 timeout naming %s", a.code, a.ErrorType, a.Error, s.stores[2].Addr())
		}
		if err := wait.Receive(t, saw, "the store to see its call end"); err == nil {
			t.Error("store call was not ended")
		}
	})
}

func TestAPIClientGoneCancelsStoreCalls(t *testing.T) {
	slow, started, saw := blocking("c")
	s := startStack(t, stackOptions{stores: []storetest.Options{slow}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/query?query=up&time=1800", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	wait.Receive(t, started, "the store to get the call")
	cancel()
	if err := wait.Receive(t, saw, "the store to see its call end"); !errors.Is(err, context.Canceled) {
		t.Errorf("store saw %v, want context.Canceled", err)
	}
	<-done
}

func TestAPIStoreMatch(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	for _, tc := range []struct {
		name     string
		selector string
		want     []string // replica label values in the answer
	}{
		{name: "by address", selector: `{__address__="` + s.stores[1].Addr() + `"}`, want: []string{"b"}},
		{name: "by external label", selector: `{replica="a"}`, want: []string{"a"}},
		{name: "no store", selector: `{__address__="nowhere:1"}`, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := s.get(t, "/api/v1/query", url.Values{
				"query": {"up"}, "time": {"1800"}, "dedup": {"false"}, "storeMatch[]": {tc.selector},
			})
			if a.code != http.StatusOK {
				t.Fatalf("status %d: %s", a.code, a.Error)
			}
			var got []string
			for _, r := range a.result(t).Result {
				if !slices.Contains(got, r.Metric["replica"]) {
					got = append(got, r.Metric["replica"])
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("replicas %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAPIRoutePrefixHealthReadyMetrics(t *testing.T) {
	ready := make(chan struct{})
	s := startStack(t, stackOptions{stores: replicaStores(), routePrefix: "/tandem", ready: func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	}})
	if a := s.get(t, "/-/ready", nil); a.code != http.StatusServiceUnavailable {
		t.Errorf("ready before discovery: %d, want 503", a.code)
	}
	close(ready)
	for path, want := range map[string]int{"/-/healthy": 200, "/-/ready": 200, "/metrics": 200} {
		if a := s.get(t, path, nil); a.code != want {
			t.Errorf("%s: %d, want %d", path, a.code, want)
		}
	}
	if a := s.get(t, "/api/v1/query", url.Values{"query": {"1"}}); a.code != 200 {
		t.Errorf("query under prefix: %d", a.code)
	}
	if a := s.get(t, "/metrics", nil); !strings.Contains(string(a.Data), `http_requests_total{code="200",handler="query",method="get"} 1`) {
		t.Errorf("metrics do not count the query:\n%s", a.Data)
	}
}
