package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// targets is how many series http_requests_total has in each replica.
const targets = 3

// fixture is what both replicas scraped: targets counters and one gauge,
// every 15 s from two hours before now to a little after, so "now" in
// the table and the default graph range hold data however long the test
// takes.
func fixture(now time.Time) string {
	start, end := now.Add(-2*time.Hour).Truncate(time.Minute), now.Add(20*time.Minute)
	var ts []int64
	for t := start; t.Before(end); t = t.Add(15 * time.Second) {
		ts = append(ts, t.UnixMilli())
	}
	requests := promtest.Family{Name: "http_requests", Type: "counter"}
	for i := range targets {
		s := promtest.Series{Labels: map[string]string{"instance": fmt.Sprintf("host-%d", i), "job": "web"}}
		for j, t := range ts {
			s.Samples = append(s.Samples, promtest.Sample{T: t, V: float64((i + 1) * j)})
		}
		requests.Series = append(requests.Series, s)
	}
	temperature := promtest.Family{Name: "temperature_celsius", Type: "gauge",
		Series: []promtest.Series{{Labels: map[string]string{"room": "lab"}}}}
	for j, t := range ts {
		temperature.Series[0].Samples = append(temperature.Series[0].Samples, promtest.Sample{T: t, V: 20 + float64(j%10)})
	}
	return promtest.OpenMetrics(requests, temperature)
}

// browserTools finds node, the npm packages and Chromium. A missing one
// fails the test with the command that installs it: a skipped browser test
// would pass while testing nothing.
func browserTools(t *testing.T, uiDir string) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: install Node.js 20 or newer, e.g. `apt-get install -y nodejs npm`")
	}
	if _, err := os.Stat(filepath.Join(uiDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("the UI's npm packages are not installed: run `make ui` or `cd pkg/ui && npm ci --prefer-offline`")
	}
	chromium = os.Getenv("UI_CHROMIUM")
	if chromium == "" {
		if chromium, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("chromium not found: run `apt-get install -y chromium` (as root), or set UI_CHROMIUM to a Chromium or Chrome binary")
		}
	}
	return node, chromium
}

// artifactsDir is where the screenshots go: $UI_ARTIFACTS, else
// pkg/ui/e2e/artifacts (ignored by git).
func artifactsDir(t *testing.T, uiDir string) string {
	t.Helper()
	dir := os.Getenv("UI_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(uiDir, "e2e", "artifacts")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitStores polls a query's /api/v1/stores until n endpoints are healthy.
func waitStores(t *testing.T, url string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		healthy, err := healthyStores(url)
		if healthy == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d endpoints healthy after %v (%v)", url, healthy, n, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func healthyStores(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Data map[string][]struct {
			LastError *string `json:"lastError"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	var n int
	for _, stores := range r.Data {
		for _, s := range stores {
			if s.LastError == nil {
				n++
			}
		}
	}
	return n, nil
}

// controlRequest is a browser test asking for the second sidecar to be
// stopped or started. The test goroutine carries it out, since a Process
// must only be driven from there.
type controlRequest struct {
	action string
	done   chan struct{}
}

func controlServer(t *testing.T) (string, <-chan controlRequest) {
	reqs := make(chan controlRequest)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.URL.Path, "/")
		if r.Method != http.MethodPost || (action != "stop" && action != "start") {
			http.Error(w, "POST /stop or /start", http.StatusBadRequest)
			return
		}
		req := controlRequest{action: action, done: make(chan struct{})}
		select {
		case reqs <- req:
		case <-r.Context().Done():
			return
		}
		<-req.done
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/", reqs
}

// startLive runs two more Prometheus replicas (replica="r0", "r1") that
// evaluate rules and scrape targets live, for the alerts, rules and
// targets pages, with a sidecar each and a query over them, and waits
// until every replica has evaluated and scraped. (The other replicas' data
// reaches past now, where no live sample could be stored.) It returns the
// query and the names the replicas' rules and pools have, as JSON.
func startLive(t *testing.T) (*e2etest.Process, string) {
	t.Helper()
	live := promtest.StartLive(t)
	var endpoints []string
	for r := range 2 {
		prom := promtest.Start(t, live.Config(map[string]string{"replica": fmt.Sprintf("r%d", r)}))
		endpoints = append(endpoints, e2etest.Sidecar(t, prom.URL()).GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica")
	e2etest.WaitLive(t, "http://"+q.HTTP, len(endpoints))
	names, err := json.Marshal(map[string]string{
		"group": promtest.LiveGroup, "brokenGroup": promtest.LiveBrokenGroup,
		"firing": promtest.LiveFiringAlert, "silent": promtest.LiveSilentAlert,
		"recording": promtest.LiveRecording, "broken": promtest.LiveBrokenRecord,
		"appJob": promtest.LiveAppJob, "downJob": promtest.LiveDownJob,
	})
	if err != nil {
		t.Fatal(err)
	}
	return q, string(names)
}

// TestBrowser drives the UI in Chromium against a real query over two
// sidecars of two Prometheus replicas: the scripts under e2e/ (node --test
// with playwright-core) check what a user sees.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus, sidecars, queries and a browser")
	}
	uiDir := filepath.Join(promtest.RepoRoot(t), "pkg", "ui")
	node, chromium := browserTools(t, uiDir)
	artifacts := artifactsDir(t, uiDir)

	om := fixture(time.Now())
	var sidecars []*e2etest.Process
	var endpoints []string
	for r := range 2 {
		dir := t.TempDir()
		promtest.CreateBlocks(t, dir, om)
		prom := promtest.Start(t, promtest.Config{DataDir: dir,
			ExternalLabels: map[string]string{"replica": fmt.Sprintf("r%d", r)}})
		sc := e2etest.Sidecar(t, prom.URL())
		sidecars = append(sidecars, sc)
		endpoints = append(endpoints, sc.GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica")
	liveQuery, liveNames := startLive(t)

	prefixAddrs := promtest.FreeAddrs(t, 2)
	prefixHTTP := prefixAddrs[0]
	prefixArgs := []string{"--grpc-address=" + prefixAddrs[1], "--http-address=" + prefixHTTP,
		"--query.replica-label=replica", "--web.route-prefix=/tandem"}
	for _, e := range endpoints {
		prefixArgs = append(prefixArgs, "--endpoint="+e)
	}
	pq := e2etest.Start(t, "tandem", append([]string{"query"}, prefixArgs...)...)
	pq.WaitReady("http://"+prefixHTTP+"/tandem/-/ready", time.Minute)
	waitStores(t, "http://"+prefixHTTP+"/tandem/api/v1/stores", len(endpoints), time.Minute)

	controlURL, controls := controlServer(t)
	// UI_E2E picks some of the scripts, e.g. UI_E2E=stores.test.mjs.
	pattern := os.Getenv("UI_E2E")
	if pattern == "" {
		pattern = "*.test.mjs"
	}
	files, err := filepath.Glob(filepath.Join(uiDir, "e2e", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests under %s (%v)", filepath.Join(uiDir, "e2e"), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// One file at a time: the stores tests stop a sidecar that the others
	// count on.
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)...)
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(),
		"UI_URL=http://"+q.HTTP+"/",
		"UI_PREFIX_URL=http://"+prefixHTTP+"/tandem/",
		"UI_CONTROL_URL="+controlURL,
		"UI_SIDECARS="+strings.Join(endpoints, ","),
		fmt.Sprintf("UI_SERIES=%d", targets),
		"UI_LIVE_URL=http://"+liveQuery.HTTP+"/",
		"UI_LIVE="+liveNames,
		"UI_CHROMIUM="+chromium,
		"UI_ARTIFACTS="+artifacts,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Logf("screenshots: %s", artifacts)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for finished := false; !finished; {
		select {
		case req := <-controls:
			if req.action == "stop" {
				sidecars[1].Stop()
			} else {
				sidecars[1].Start()
			}
			close(req.done)
		case err = <-waited:
			finished = true
		}
	}
	t.Logf("node --test (%v):\n%s", time.Since(started).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("browser tests failed: %v\nquery log:\n%s", err, q.Log())
	}
}
