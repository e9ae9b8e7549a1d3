package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v2"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// thanosAlerts reads the Query and Sidecar alerts of Thanos's mixin, as
// Thanos ships them in examples/alerts/alerts.yaml of its module.
func thanosAlerts(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/thanos-io/thanos")
	cmd.Dir = promtest.RepoRoot(t)
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate the Thanos module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "examples", "alerts", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range file.Groups {
		if g.Name != "thanos-query" && g.Name != "thanos-sidecar" {
			continue
		}
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Query and Sidecar alerts: %v", len(out), out)
	}
	return out
}

// TestThanosMixinAlerts evaluates the alert expressions of Thanos's mixin
// over a real Prometheus scraping Tandem under the job names kube-thanos
// gives Thanos's components, and checks that each fires exactly when it
// should: for a sidecar whose Prometheus is down, one whose bucket fails, a
// query answering 5xx,
// a query whose stores fail and whose DNS lookups fail; and that every
// metric an alert reads is there, so that one that stays quiet does so
// because all is well.
func TestThanosMixinAlerts(t *testing.T) {
	alerts := thanosAlerts(t)
	data := replicas(t, 1)[0]
	// It serves, and cannot upload: its bucket's directory is a file.
	brokenBucket := writeFile(t, "bucket", "")
	healthy := e2etest.Sidecar(t, data.URL(), "--tsdb.path="+data.DataDir(), "--shipper.ignore-unequal-block-size",
		"--objstore.config={type: FILESYSTEM, config: {directory: "+brokenBucket+"}}")
	// A sidecar whose Prometheus is gone: it runs, and is not ready.
	addrs := promtest.FreeAddrs(t, 4)
	down := e2etest.Start(t, "tandem", "sidecar", "--prometheus.url=http://"+addrs[0], "--grpc-address="+addrs[1], "--http-address="+addrs[2])
	down.HTTP = addrs[2]
	down.WaitReady("http://"+down.HTTP+"/-/healthy", time.Minute)

	// The query reads the healthy sidecar, a store that is not there and a
	// DNS name its server fails to resolve.
	zone := dnstest.Start(t)
	zone.SetServfail(true)
	resolvConf := writeFile(t, "resolv.conf", "nameserver "+zone.Addr()+"\noptions timeout:1\n")
	q := e2etest.StartQuery(t, []string{healthy.GRPC, addrs[3], "dns+sidecar.example:10901"},
		"--store.sd-dns-resolv-conf="+resolvConf, "--store.sd-dns-interval=1s", "--query.replica-label=replica")
	q.WaitReady("http://"+q.HTTP+"/-/ready", time.Minute)
	q.WaitHealthyStores(1, time.Minute)

	monitor := promtest.Start(t, promtest.Config{ExtraConfig: fmt.Sprintf(`scrape_configs:
  - job_name: thanos-query
    scrape_interval: 1s
    static_configs: [{targets: [%q], labels: {namespace: monitoring, pod: query-0}}]
  - job_name: thanos-sidecar
    scrape_interval: 1s
    static_configs:
      - {targets: [%q], labels: {namespace: monitoring, pod: prometheus-0}}
      - {targets: [%q], labels: {namespace: monitoring, pod: prometheus-1}}
  - job_name: prometheus
    scrape_interval: 1s
    static_configs:
      - {targets: [%q], labels: {namespace: monitoring, pod: prometheus-0}}
      - {targets: [%q], labels: {namespace: monitoring, pod: prometheus-1}}
`, q.HTTP, healthy.HTTP, down.HTTP, strings.TrimPrefix(data.URL(), "http://"), strings.TrimPrefix(data.URL(), "http://"))})

	// Light traffic, a dashboard refreshing every second: an instant and
	// a range query that succeed, and an instant query that times out
	// (503, a timeout of 1µs). The store that is not there fails one Info
	// call in 5 s, against some 2.4 calls a second in all: its share of
	// failed calls is over the alert's 5%.
	at := strconv.FormatInt(base.Add(time.Hour).Unix(), 10)
	traffic := func() {
		e2etest.API(context.Background(), t, "http://"+q.HTTP, "/api/v1/query", url.Values{"query": {"sum(http_requests_total)"}, "time": {at}})
		e2etest.API(context.Background(), t, "http://"+q.HTTP, "/api/v1/query_range", url.Values{"query": {"sum(http_requests_total)"},
			"start": {at}, "end": {at}, "step": {"60"}})
		r := e2etest.API(context.Background(), t, "http://"+q.HTTP, "/api/v1/query", url.Values{"query": {"sum(rate(http_requests_total[1h:1s]))"}, "time": {at}, "timeout": {"0.000001"}})
		if r.Code/100 != 5 {
			t.Fatalf("query with timeout=1µs answered %d, want a 5xx", r.Code)
		}
	}

	want := map[string][]string{ // alert -> the jobs (and pods) it fires for; nil: quiet
		"ThanosQueryHttpRequestQueryErrorRateHigh":     {"thanos-query"},
		"ThanosQueryGrpcClientErrorRate":               {"thanos-query"},
		"ThanosQueryHighDNSFailures":                   {"thanos-query"},
		"ThanosSidecarNoConnectionToStartedPrometheus": {"thanos-sidecar/prometheus-1"},
		"ThanosSidecarBucketOperationsFailed":          {"thanos-sidecar"},
	}
	absent := map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		traffic()
		problems := evaluateAlerts(t, monitor.URL(), alerts, want, absent)
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v:\n%s", 90*time.Second, strings.Join(problems, "\n"))
		}
		time.Sleep(time.Second) // a scrape interval: polling, not synchronisation
	}
}

// evaluateAlerts evaluates each alert expression now and returns what
// differs from want.
func evaluateAlerts(t *testing.T, prom string, alerts map[string]string, want map[string][]string, absent map[string]bool) []string {
	t.Helper()
	var problems []string
	for name, expr := range alerts {
		var fired []string
		for _, s := range e2etest.Vector(t, e2etest.API(context.Background(), t, prom, "/api/v1/query", url.Values{"query": {expr}})) {
			f := s.Metric["job"]
			if p := s.Metric["pod"]; p != "" && strings.HasPrefix(name, "ThanosSidecar") {
				f += "/" + p
			}
			fired = append(fired, f)
		}
		slices.Sort(fired)
		if !slices.Equal(fired, want[name]) {
			problems = append(problems, fmt.Sprintf("%s fires for %v, want %v", name, fired, want[name]))
		}
		for _, metric := range metricNames(t, expr) {
			if absent[metric] {
				continue
			}
			v := e2etest.Vector(t, e2etest.API(context.Background(), t, prom, "/api/v1/query", url.Values{"query": {"count({__name__=\"" + metric + "\"})"}}))
			if len(v) == 0 {
				problems = append(problems, fmt.Sprintf("%s reads %s, which no target exports", name, metric))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(names, vs.Name) {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}
