// Package e2etest runs the project's binaries, and Thanos's for
// compatibility checks, as real processes on loopback ports for tests.
package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/supervise"
	"github.com/tandem-metrics/tandem/internal/wait"
)

// Process is a binary running for the length of a test.
type Process struct {
	t    testing.TB
	name string
	opts supervise.Options
	proc *supervise.Process
	// GRPC and HTTP are the loopback addresses it listens on.
	GRPC, HTTP string
}

// stopGrace is how long a stopped process may take to exit before it is
// killed.
const stopGrace = 30 * time.Second

// Start runs bin/<binary> (see `make build` and `make tools`) with args
// and stops it when the test ends.
func Start(t testing.TB, binary string, args ...string) *Process {
	t.Helper()
	name := binary
	if len(args) > 0 && (binary == "tandem" || binary == "thanos") {
		name += " " + args[0] // the subcommand
	}
	p := &Process{t: t, name: name, opts: supervise.Options{
		Name: name,
		Path: promtest.Binary(t, binary),
		Args: args,
		Log:  filepath.Join(t.TempDir(), binary+".log"),
	}}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start (re)starts a stopped process with the same arguments; its log goes
// on in the same file.
func (p *Process) Start() {
	p.t.Helper()
	proc, err := supervise.Start(p.opts)
	if err != nil {
		p.t.Fatal(err)
	}
	p.proc = proc
}

// Stop sends SIGTERM and waits for the process to exit.
func (p *Process) Stop() {
	if err := p.proc.Stop(stopGrace); err != nil {
		p.t.Error(err)
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.proc.Exited() }

// WaitExit waits for the process to end by itself and fails the test
// unless it exits non-zero with a log that mentions want.
func (p *Process) WaitExit(t testing.TB, timeout time.Duration, want string) {
	t.Helper()
	p.waitExit(t, timeout)
	if code := p.proc.ExitCode(); code == 0 {
		t.Errorf("%s exited 0, want an error", p.name)
	}
	if log := p.Log(); !strings.Contains(log, want) {
		t.Errorf("%s log does not mention %q:\n%s", p.name, want, log)
	} else {
		t.Logf("%s: %s", p.name, strings.TrimSpace(log))
	}
}

// WaitExitOK waits for the process to end by itself, e.g. after a signal
// the test sent, and fails the test unless it exits 0.
func (p *Process) WaitExitOK(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.waitExit(t, timeout)
	if code := p.proc.ExitCode(); code != 0 {
		t.Errorf("%s exited %d, want 0:\n%s", p.name, code, p.Log())
	}
}

func (p *Process) waitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.proc.Done():
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", p.name, timeout)
	}
}

// Pid is the running process's id.
func (p *Process) Pid() int { return p.proc.Pid() }

// Log is what the process has written so far.
func (p *Process) Log() string { return p.proc.Log() }

// WaitReady polls url until it answers 200 or the deadline passes.
func (p *Process) WaitReady(url string, timeout time.Duration) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.proc.WaitReady(ctx, url); err != nil {
		p.t.Fatalf("%v\n%s", err, p.Log())
	}
}

// Sidecar runs `bin/tandem sidecar` for the Prometheus at promURL and
// waits until it is ready. Unless args set --tsdb.path, it is Prometheus's
// data directory, as where both share a volume, so that the sidecar reads
// the blocks from there; a Prometheus that does not say (a fault proxy in
// front of it, say) leaves the sidecar with remote read alone.
func Sidecar(t testing.TB, promURL string, args ...string) *Process {
	t.Helper()
	if !hasFlag(args, "--tsdb.path") {
		if dir := dataDir(promURL); dir != "" {
			args = append(args, "--tsdb.path="+dir)
		}
	}
	if !hasFlag(args, "--log.level") {
		args = append(args, "--log.level=debug")
	}
	addrs := promtest.FreeAddrs(t, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	p := Start(t, "tandem", append([]string{"sidecar", "--prometheus.url=" + promURL,
		"--grpc-address=" + grpcAddr, "--http-address=" + httpAddr}, args...)...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	p.WaitReady("http://"+httpAddr+"/-/ready", time.Minute)
	return p
}

// hasFlag reports whether args set the flag name (--name=value).
func hasFlag(args []string, name string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, name+"=") })
}

// dataDir asks the Prometheus at promURL for its --storage.tsdb.path; ""
// if it does not answer.
func dataDir(promURL string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(promURL, "/")+"/api/v1/status/flags", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		Data map[string]string `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil {
		return ""
	}
	return body.Data["storage.tsdb.path"]
}

// ThanosQuery runs Thanos's querier (bin/thanos, built by `make tools`) over
// the given Store API endpoints and waits until it is ready.
func ThanosQuery(t testing.TB, endpoints []string, args ...string) *Process {
	t.Helper()
	addrs := promtest.FreeAddrs(t, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	all := []string{"query", "--grpc-address=" + grpcAddr, "--http-address=" + httpAddr, "--log.level=warn"}
	for _, e := range endpoints {
		all = append(all, "--endpoint="+e)
	}
	p := Start(t, "thanos", append(all, args...)...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	p.WaitReady("http://"+httpAddr+"/-/ready", time.Minute)
	return p
}

// ThanosSidecar runs Thanos's sidecar for the Prometheus at promURL.
func ThanosSidecar(t testing.TB, promURL string, args ...string) *Process {
	t.Helper()
	addrs := promtest.FreeAddrs(t, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	p := Start(t, "thanos", append([]string{"sidecar", "--prometheus.url=" + promURL,
		"--grpc-address=" + grpcAddr, "--http-address=" + httpAddr, "--log.level=warn",
		"--tsdb.path=" + t.TempDir()}, args...)...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	p.WaitReady("http://"+httpAddr+"/-/ready", time.Minute)
	return p
}

// ThanosStore runs Thanos's store gateway over the bucket that the object
// store config file describes and waits until it is ready, which it is once
// it has read the bucket's blocks.
func ThanosStore(t testing.TB, objstoreConfigFile string, args ...string) *Process {
	t.Helper()
	addrs := promtest.FreeAddrs(t, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	p := Start(t, "thanos", append([]string{"store", "--objstore.config-file=" + objstoreConfigFile,
		"--data-dir=" + t.TempDir(), "--grpc-address=" + grpcAddr, "--http-address=" + httpAddr, "--log.level=warn"}, args...)...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	p.WaitReady("http://"+httpAddr+"/-/ready", time.Minute)
	return p
}

// Metric returns the value of the process's metric name (a counter, gauge
// or untyped) whose labels include the given name/value pairs, read from
// /metrics; ok is false when there is none.
func (p *Process) Metric(name string, lvs ...string) (v float64, ok bool) {
	resp, err := http.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, false
	}
next:
	for _, m := range families[name].GetMetric() {
		for i := 0; i+1 < len(lvs); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == lvs[i] && l.GetValue() == lvs[i+1] }) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		default:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// APIResponse is the Prometheus HTTP API envelope.
type APIResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
	// Code is the HTTP status.
	Code int `json:"-"`
}

// API calls a Prometheus-compatible HTTP API: GET base+path?params.
func API(ctx context.Context, t testing.TB, base, path string, params url.Values) APIResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r APIResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("GET %s: %s: not API JSON: %v: %s", path, resp.Status, err, strings.TrimSpace(string(body)))
	}
	r.Code = resp.StatusCode
	return r
}

// VectorSample is one element of an instant-vector result.
type VectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Vector decodes an instant query's vector result.
func Vector(t testing.TB, r APIResponse) []VectorSample {
	t.Helper()
	if r.Status != "success" {
		t.Fatalf("query failed: %d %s: %s", r.Code, r.ErrorType, r.Error)
	}
	var d struct {
		ResultType string         `json:"resultType"`
		Result     []VectorSample `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ResultType != "vector" {
		t.Fatalf("result type %q, want vector", d.ResultType)
	}
	return d.Result
}

// Value returns a vector sample's value as a string, as the API writes it.
func (s VectorSample) String() string { return fmt.Sprint(s.Metric, s.Value[1]) }

// Query runs `bin/tandem query` over the given Store API endpoints and waits until
// it is ready and every endpoint has answered Info healthily.
func Query(t testing.TB, endpoints []string, args ...string) *Process {
	t.Helper()
	p := StartQuery(t, endpoints, args...)
	p.WaitReady("http://"+p.HTTP+"/-/ready", time.Minute)
	p.WaitHealthyStores(len(endpoints), time.Minute)
	return p
}

// StartQuery runs `bin/tandem query` over the given Store API endpoints without
// waiting for anything.
func StartQuery(t testing.TB, endpoints []string, args ...string) *Process {
	t.Helper()
	addrs := promtest.FreeAddrs(t, 2)
	grpcAddr, httpAddr := addrs[0], addrs[1]
	all := []string{"query", "--grpc-address=" + grpcAddr, "--http-address=" + httpAddr, "--log.level=debug"}
	for _, e := range endpoints {
		all = append(all, "--endpoint="+e)
	}
	p := Start(t, "tandem", append(all, args...)...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	return p
}

// WaitHealthyStores polls the query's /api/v1/stores until n endpoints
// report no error.
func (p *Process) WaitHealthyStores(n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var healthy int
	for {
		healthy = p.healthyStores()
		if healthy >= n {
			return
		}
		if p.Exited() {
			p.t.Fatalf("%s exited:\n%s", p.name, p.Log())
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %d of %d stores healthy after %v\n%s", p.name, healthy, n, timeout, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Process) healthyStores() int {
	var n int
	for _, s := range p.Stores() {
		if s.LastError == nil {
			n++
		}
	}
	return n
}

// StoreStatus is one endpoint as a querier's /api/v1/stores lists it.
type StoreStatus struct {
	Name      string  `json:"name"`
	LastError *string `json:"lastError"`
	MinTime   int64   `json:"minTime"`
}

// Stores lists the endpoints of a querier (ours or Thanos's) of every
// component type; nil when it does not answer.
func (p *Process) Stores() []StoreStatus {
	resp, err := http.Get("http://" + p.HTTP + "/api/v1/stores")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ans struct {
		Data map[string][]StoreStatus `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&ans) != nil {
		return nil
	}
	var out []StoreStatus
	for _, group := range ans.Data {
		out = append(out, group...)
	}
	return out
}

// WaitLive waits until a query (at base, e.g. http://127.0.0.1:1234) over
// the given number of replicas run with a promtest.Live shows every
// replica's rules evaluated (the firing alert firing, the broken rule
// failed) and its targets scraped (the app up, the other target down).
func WaitLive(t testing.TB, base string, replicas int) {
	t.Helper()
	wait.Until(t, time.Minute, base+": replicas evaluated and scraped", func() error { return liveShown(t, base, replicas) })
}

func liveShown(t testing.TB, base string, replicas int) error {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name, Health, State string
			} `json:"rules"`
		} `json:"groups"`
	}
	noDedup := url.Values{"dedup": {"false"}}
	if err := json.Unmarshal(API(context.Background(), t, base, "/api/v1/rules", noDedup).Data, &rules); err != nil {
		return err
	}
	got := map[string]int{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			got[r.Name+"/"+r.Health+"/"+r.State]++
		}
	}
	want := map[string]int{promtest.LiveFiringAlert + "/ok/firing": replicas, promtest.LiveSilentAlert + "/ok/inactive": replicas,
		promtest.LiveRecording + "/ok/": replicas, promtest.LiveBrokenRecord + "/err/": replicas}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("rules by health and state %v, want %v", got, want)
	}
	var targets struct {
		Active []struct {
			ScrapePool, Health string
		} `json:"activeTargets"`
	}
	if err := json.Unmarshal(API(context.Background(), t, base, "/api/v1/targets", noDedup).Data, &targets); err != nil {
		return err
	}
	health := map[string]int{}
	for _, a := range targets.Active {
		health[a.ScrapePool+"/"+a.Health]++
	}
	if want := map[string]int{promtest.LiveAppJob + "/up": replicas, promtest.LiveDownJob + "/down": replicas}; fmt.Sprint(health) != fmt.Sprint(want) {
		return fmt.Errorf("targets by pool and health %v, want %v", health, want)
	}
	return nil
}
