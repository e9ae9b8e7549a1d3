package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// parseQuery parses `tandem query args...` and checks the flags.
func parseQuery(t *testing.T, args ...string) (*queryCmd, error) {
	t.Helper()
	a := newApp("tandem")
	a.Terminate(nil)
	if _, err := a.Parse(append([]string{"query"}, args...)); err != nil {
		return nil, err
	}
	q := a.commands["query"].(*queryCmd)
	return q, q.validate()
}

func TestFlags(t *testing.T) {
	cfg, err := parseQuery(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.server.httpAddr != "0.0.0.0:10902" || cfg.server.grpcAddr != "0.0.0.0:10901" || cfg.timeout != 2*time.Minute ||
		cfg.maxConcurrent != 20 || cfg.lookbackDelta != 5*time.Minute || cfg.maxSamples != 50_000_000 ||
		!cfg.partialResponse || cfg.responseTimeout != 0 {
		t.Errorf("defaults differ from Thanos's: %+v", cfg)
	}

	cfg, err = parseQuery(t, "--endpoint=a:1", "--store=b:2", "--endpoint=dns+c:3", "--query.replica-label=replica",
		"--query.replica-label=prometheus_replica", "--no-query.partial-response", "--web.external-prefix=/q")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:1", "b:2", "dns+c:3"}; !slices.Equal(cfg.endpoints, want) {
		t.Errorf("endpoints %q, want %q (--store is an alias)", cfg.endpoints, want)
	}
	if cfg.partialResponse || cfg.prefix() != "/q" || len(cfg.replicaLabels) != 2 {
		t.Errorf("parsed %+v", cfg)
	}

	for _, bad := range [][]string{
		{"--query.timeout=soon"},
		{"--query.timeout=0s"},
		{"--query.max-concurrent=0"},
		{"--query.max-concurrent-select=0"},
		{"--query.two-phase-select-span=-1h"},
		{"--web.route-prefix=api"},
		{"--store.sd-dns-resolver=bind"},
		{"--no-such-flag"},
	} {
		if _, err := parseQuery(t, bad...); err == nil {
			t.Errorf("%q: accepted, want an error", bad)
		}
	}
}

// TestQueryEndToEnd runs the wired process against two replicas over
// loopback: discovery by Info, readiness, deduplicated PromQL, the store
// list and the Store API it serves in turn.
func TestQueryEndToEnd(t *testing.T) {
	var addrs []string
	for _, r := range []string{"a", "b"} {
		db := storetest.OpenTSDB(t, storetest.Series{
			Labels: labels.FromStrings("__name__", "up", "job", "x"), Samples: storetest.Ramp(0, 15_000, 240),
		})
		srv := storetest.Start(t, db, storetest.Options{ExternalLabels: labels.FromStrings("replica", r), WithoutReplicaLabels: true})
		addrs = append(addrs, srv.Addr())
	}
	args := []string{"--http-address=127.0.0.1:0", "--grpc-address=127.0.0.1:0", "--query.replica-label=replica", "--web.route-prefix=/tandem"}
	for _, a := range addrs {
		args = append(args, "--endpoint="+a)
	}
	srv := startServer(t, append([]string{"query"}, args...)...)
	base := "http://" + srv.httpLis.Addr().String() + "/tandem"

	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	// Ready once discovery has run its first round; both stores healthy
	// once their Info answered.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := get("/-/ready")
		_, body := get("/api/v1/query?" + url.Values{"query": {"count(count by (replica) ({__name__=\"up\"}))"}, "time": {"1800"}, "dedup": {"false"}}.Encode())
		if code == http.StatusOK && sampleValue(body) == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query never became ready with both stores: ready %d, %s", code, body)
		}
		time.Sleep(50 * time.Millisecond) // polling, not synchronisation
	}

	code, body := get("/api/v1/query?" + url.Values{"query": {"up"}, "time": {"1800"}}.Encode())
	var ans struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || code != 200 || len(ans.Data.Result) != 1 || ans.Data.Result[0].Metric["replica"] != "" {
		t.Fatalf("dedup query: %d %s", code, body)
	}
	if code, body := get("/api/v1/stores"); code != 200 || !json.Valid(body) {
		t.Errorf("/api/v1/stores: %d %s", code, body)
	}
	if os.Getenv("GOGC") == "" {
		// The Go collector reports the query's own GOGC.
		if _, body := get("/metrics"); !bytes.Contains(body, []byte(fmt.Sprintf("\ngo_gc_gogc_percent %d\n", queryGCPercent))) {
			t.Errorf("/metrics does not report GOGC %d", queryGCPercent)
		}
	}

	// The Store API it serves, as a querier above would read it.
	upper := storetest.Dial(t, srv.grpcLis.Addr().String(), storetest.Options{WithoutReplicaLabels: true})
	stream, err := upper.Series(t.Context(), &storepb.SeriesRequest{
		MinTime: 0, MaxTime: 3_600_000, WithoutReplicaLabels: []string{"replica"},
		Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "up"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var series int
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSeries() != nil {
			series++
		}
	}
	if series != 1 {
		t.Errorf("Store API served %d series, want the 1 deduplicated", series)
	}
}

// sampleValue returns the value of a one-sample vector answer, or "".
func sampleValue(body []byte) string {
	var ans struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &ans) != nil || len(ans.Data.Result) != 1 || len(ans.Data.Result[0].Value) != 2 {
		return ""
	}
	v, _ := ans.Data.Result[0].Value[1].(string)
	return v
}

// startServer runs `tandem args...` until the test ends.
func startServer(t *testing.T, args ...string) *daemon {
	t.Helper()
	a := newApp("tandem")
	a.Terminate(nil)
	name, err := a.Parse(append(args, "--log.level=error"))
	if err != nil {
		t.Fatal(err)
	}
	d, logger, err := a.build(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx, logger) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return d
}
