package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// prepareReplica replaces dir with a fresh prometheus.yml and a data
// directory holding replica r's history.
func prepareReplica(ctx context.Context, promtool string, h History, r int, dir string, cfg Config) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", data, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(prometheusConfig(cfg, r)), 0o644); err != nil {
		return fmt.Errorf("write config of %s: %w", replicaNames[r], err)
	}
	// Beside the replicas' directories: a rule group is the same group on
	// both replicas only if they load it from the same path.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), rulesFile), []byte(rules), 0o644); err != nil {
		return fmt.Errorf("write rules of %s: %w", replicaNames[r], err)
	}
	return backfill(ctx, promtool, h, r, dir, data)
}

// rulesFile holds the rules both replicas evaluate, for the query's Alerts
// and Rules pages: a recording rule, an alert that always fires, and one
// that fires while a demo component does not answer its scrapes.
const (
	rulesFile = "rules.yml"
	rules     = `groups:
  - name: demo
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Watchdog
        expr: vector(1)
        annotations: {summary: "Always firing: the rules are evaluated"}
      - alert: DemoComponentDown
        expr: up == 0
        for: 30s
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} at {{ $labels.instance }} does not answer its scrapes"}
`
)

// prometheusConfig is replica r's config: the external labels that tell the
// replicas apart, the rules, and live scrapes of every demo component,
// which both replicas make, so live data is duplicated too.
func prometheusConfig(cfg Config, r int) string {
	jobs := []struct {
		name    string
		targets []string
	}{
		{"prometheus", cfg.Prometheus[:]},
		{"sidecar", cfg.SidecarHTTP[:]},
		{"query", []string{cfg.QueryHTTP}},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %ds\n  external_labels:\n    cluster: demo\n    replica: %s\n", int(ScrapeInterval.Seconds()), replicaNames[r])
	fmt.Fprintf(&b, "rule_files: [../%s]\n", rulesFile)
	b.WriteString("scrape_configs:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", j.name, quoteAll(j.targets))
	}
	return b.String()
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
