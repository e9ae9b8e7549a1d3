package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/wait"
)

const (
	// loadQPS and loadDuration shape the steady load of the fault tests.
	loadQPS      = 20
	loadDuration = 30 * time.Second
	// rangePoints is how many steps of one minute a range query of the load
	// spans.
	rangePoints = 10
)

// queryKind is one query of the load and how to check its answer against
// the fixture's ground truth, value(i, j).
type queryKind struct {
	name   string
	path   string
	params func(j int) url.Values
	check  func(data json.RawMessage, j int) error
}

func unix(j int) string { return strconv.FormatInt(base2(j).Unix(), 10) }

var loadKinds = []queryKind{
	{
		name:   "instant",
		path:   "/api/v1/query",
		params: func(j int) url.Values { return url.Values{"query": {"http_requests_total"}, "time": {unix(j)}} },
		check: func(data json.RawMessage, j int) error {
			return checkSeries(data, "vector", func(i int) []float64 { return []float64{value(i, j)} })
		},
	},
	{
		name: "range",
		path: "/api/v1/query_range",
		params: func(j int) url.Values {
			return url.Values{"query": {"http_requests_total"}, "start": {unix(j)}, "end": {unix(j + 4*rangePoints)}, "step": {"60"}}
		},
		check: func(data json.RawMessage, j int) error {
			return checkSeries(data, "matrix", func(i int) []float64 {
				var want []float64
				for k := range rangePoints + 1 {
					want = append(want, value(i, j+4*k)) // 4 samples of 15 s per minute
				}
				return want
			})
		},
	},
	{
		name:   "sum",
		path:   "/api/v1/query",
		params: func(j int) url.Values { return url.Values{"query": {"sum(http_requests_total)"}, "time": {unix(j)}} },
		check: func(data json.RawMessage, j int) error {
			var d struct {
				ResultType string `json:"resultType"`
				Result     []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			}
			if err := json.Unmarshal(data, &d); err != nil {
				return err
			}
			var want float64
			for i := range targets {
				want += value(i, j)
			}
			if len(d.Result) != 1 || d.Result[0].Value[1] != strconv.FormatFloat(want, 'f', -1, 64) {
				return fmt.Errorf("sum at sample %d: %s, want %v", j, data, want)
			}
			return nil
		},
	},
}

// checkSeries checks a deduplicated answer: one series per target, with
// the external label cluster and no replica label, holding want(i).
func checkSeries(data json.RawMessage, resultType string, want func(i int) []float64) error {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	if d.ResultType != resultType || len(d.Result) != targets {
		return fmt.Errorf("%s with %d series, want %s with %d: %s", d.ResultType, len(d.Result), resultType, targets, data)
	}
	seen := map[int]bool{}
	for _, s := range d.Result {
		var i int
		if _, err := fmt.Sscanf(s.Metric["instance"], "host-%d", &i); err != nil || seen[i] {
			return fmt.Errorf("unexpected series %v", s.Metric)
		}
		seen[i] = true
		if _, ok := s.Metric["replica"]; ok || s.Metric["cluster"] != "eu" {
			return fmt.Errorf("series %v: want cluster=eu and no replica label", s.Metric)
		}
		points := s.Values
		if resultType == "vector" {
			points = [][2]any{s.Value}
		}
		var got []string
		for _, p := range points {
			got = append(got, fmt.Sprint(p[1]))
		}
		var w []string
		for _, v := range want(i) {
			w = append(w, strconv.FormatFloat(v, 'f', -1, 64))
		}
		if !slices.Equal(got, w) {
			return fmt.Errorf("series %v: %v, want %v", s.Metric, got, w)
		}
	}
	return nil
}

// loadResult is what a run of load saw.
type loadResult struct {
	mu        sync.Mutex
	latencies []time.Duration
	failures  []string // the first few
	failed    int
	warned    int
	warning   string // one of the warnings
}

func (r *loadResult) record(took time.Duration, warnings []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latencies = append(r.latencies, took)
	if len(warnings) > 0 {
		r.warned++
		r.warning = warnings[0]
	}
	if err != nil {
		r.failed++
		if len(r.failures) < 5 {
			r.failures = append(r.failures, err.Error())
		}
	}
}

// quantile returns the q-quantile of the latencies.
func (r *loadResult) quantile(q float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

// report fails the test if any query failed and logs the latencies.
func (r *loadResult) report(t *testing.T) {
	t.Helper()
	t.Logf("%d queries, %d failed, %d with warnings (e.g. %q); latency p50 %v, p99 %v, max %v",
		len(r.latencies), r.failed, r.warned, r.warning, r.quantile(0.5), r.quantile(0.99), r.quantile(1))
	if r.failed > 0 {
		t.Errorf("%d of %d queries failed, first: %q", r.failed, len(r.latencies), r.failures)
	}
}

// runLoad sends qps queries a second for d to the query at base, cycling
// through loadKinds at sample positions spread over the fixture, and checks
// every answer. sent counts the queries started, so the caller can inject
// its fault at a point of the run. It returns once every query answered.
func runLoad(base string, qps int, d time.Duration, sent *atomic.Int64) *loadResult {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: qps}}
	defer client.CloseIdleConnections()
	res := &loadResult{}
	total := int(d.Seconds() * float64(qps))
	tick := time.NewTicker(time.Second / time.Duration(qps))
	defer tick.Stop()
	var wg sync.WaitGroup
	for n := range total {
		<-tick.C
		sent.Add(1)
		kind := loadKinds[n%len(loadKinds)]
		j := (n * 37) % (samples - 4*rangePoints)
		wg.Go(func() {
			start := time.Now()
			r, err := get(client, base, kind.path, kind.params(j))
			if err == nil && r.Status != "success" {
				err = fmt.Errorf("%d %s: %s", r.Code, r.ErrorType, r.Error)
			}
			if err == nil {
				err = kind.check(r.Data, j)
			}
			if err != nil {
				err = fmt.Errorf("%s at sample %d: %w", kind.name, j, err)
			}
			res.record(time.Since(start), r.Warnings, err)
		})
	}
	wg.Wait()
	return res
}

// get calls the HTTP API like e2etest.API, but from any goroutine: it
// returns errors instead of failing the test.
func get(client *http.Client, base, path string, params url.Values) (e2etest.APIResponse, error) {
	var r e2etest.APIResponse
	resp, err := client.Get(base + path + "?" + params.Encode())
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%s: not API JSON: %w: %s", resp.Status, err, body)
	}
	r.Code = resp.StatusCode
	return r, nil
}

// storeHealth returns the health the query reports for the endpoint at
// addr: nil if healthy.
func storeHealth(q *e2etest.Process, addr string) error {
	for _, s := range q.Stores() {
		if s.Name != addr {
			continue
		}
		if s.LastError != nil {
			return fmt.Errorf("%s", *s.LastError)
		}
		return nil
	}
	return fmt.Errorf("%s not listed", addr)
}

// TestSteadyLoadThroughReplicaRestart sends steady load to a query over two
// replicas and kills one replica's Prometheus a sixth into the run, then
// starts it again: no query may fail, and every answer is the ground truth.
func TestSteadyLoadThroughReplicaRestart(t *testing.T) {
	proms := replicas(t, 2)
	var sidecars []*e2etest.Process
	var endpoints []string
	for _, p := range proms {
		s := e2etest.Sidecar(t, p.URL())
		sidecars = append(sidecars, s)
		endpoints = append(endpoints, s.GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica")

	var sent atomic.Int64
	done := make(chan *loadResult, 1)
	go func() { done <- runLoad("http://"+q.HTTP, loadQPS, loadDuration, &sent) }()

	total := int64(loadDuration.Seconds() * loadQPS)
	wait.Until(t, loadDuration, "load under way", func() error {
		if n := sent.Load(); n < total/6 {
			return fmt.Errorf("%d queries sent", n)
		}
		return nil
	})
	stopped := time.Now()
	proms[0].Stop()
	// The fault counts only once the query has noticed it.
	wait.Until(t, 30*time.Second, "query sees the replica down", func() error {
		if storeHealth(q, sidecars[0].GRPC) == nil {
			return fmt.Errorf("%s still healthy", sidecars[0].GRPC)
		}
		return nil
	})
	proms[0].Start()
	wait.Until(t, 30*time.Second, "query sees the replica back", func() error { return storeHealth(q, sidecars[0].GRPC) })
	t.Logf("replica r0 down and back in %v, after %d of %d queries", time.Since(stopped).Round(time.Millisecond), sent.Load(), total)
	if n := sent.Load(); n >= total {
		t.Errorf("the replica came back only after the load ended (%d queries): the fault was not under load", n)
	}

	res := <-done
	res.report(t)
	if len(res.latencies) != int(total) {
		t.Errorf("%d queries answered, want %d", len(res.latencies), total)
	}
}

// TestSidecarRecoversFromPrometheusRestart stops the only replica's
// Prometheus under its sidecar: the sidecar reports not ready, queries
// answer at once, without data or, for history in blocks the sidecar
// reads itself, with the right data, never with wrong data; and once
// Prometheus is back the sidecar serves it again by itself.
func TestSidecarRecoversFromPrometheusRestart(t *testing.T) {
	prom := replicas(t, 1)[0]
	sidecar := e2etest.Sidecar(t, prom.URL())
	q := e2etest.Query(t, []string{sidecar.GRPC}, "--query.replica-label=replica")
	client := &http.Client{Timeout: 10 * time.Second}
	kind := loadKinds[0]
	query := func() (e2etest.APIResponse, time.Duration, error) {
		start := time.Now()
		r, err := get(client, "http://"+q.HTTP, kind.path, kind.params(100))
		return r, time.Since(start), err
	}
	ready := func() int {
		resp, err := client.Get("http://" + sidecar.HTTP + "/-/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if r, _, err := query(); err != nil || r.Status != "success" || kind.check(r.Data, 100) != nil {
		t.Fatalf("before the restart: %+v %v", r, err)
	}

	prom.Stop()
	wait.Until(t, 10*time.Second, "sidecar not ready", func() error {
		if c := ready(); c != http.StatusServiceUnavailable {
			return fmt.Errorf("/-/ready answers %d", c)
		}
		return nil
	})
	r, took, err := query()
	if err != nil || r.Status != "success" || took > 5*time.Second {
		t.Fatalf("with Prometheus down: %+v, %v after %v; want a prompt, partial answer", r, err, took)
	}
	t.Logf("with Prometheus down, after %v: %s, warnings %q", took, r.Data, r.Warnings)
	var empty struct {
		Result []any `json:"result"`
	}
	if json.Unmarshal(r.Data, &empty) != nil || (len(empty.Result) != 0 && kind.check(r.Data, 100) != nil) {
		t.Errorf("with Prometheus down: data %s, want none or the right answer", r.Data)
	}

	restarted := time.Now()
	prom.Start()
	wait.Until(t, 30*time.Second, "queries answered again", func() error {
		r, _, err := query()
		if err != nil {
			return err
		}
		if len(r.Warnings) > 0 {
			return fmt.Errorf("warnings %q", r.Warnings)
		}
		return kind.check(r.Data, 100)
	})
	t.Logf("queries complete again %v after Prometheus started", time.Since(restarted).Round(time.Millisecond))
	// Readiness is re-read in the background, a failure at most half a
	// second after the last; Series calls need not wait for it.
	wait.Until(t, 5*time.Second, "sidecar ready again", func() error {
		if c := ready(); c != http.StatusOK || sidecar.Exited() {
			return fmt.Errorf("/-/ready %d, exited %v; want it ready and running", c, sidecar.Exited())
		}
		return nil
	})
}
