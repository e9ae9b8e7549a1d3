package promtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Live is a Prometheus setup that evaluates rules and scrapes targets, for
// the tests of rules, alerts, targets, metric metadata and exemplars. Run
// every replica of an HA pair with the same Live: they evaluate the same
// rules and scrape the same targets.
type Live struct {
	// App is the address of the target that serves metrics with
	// exemplars, an HTTP server of the test.
	App string
	// RulesFile is the rules file every replica loads.
	RulesFile string
	// ExemplarTime is the timestamp (ms) of every exemplar App serves.
	ExemplarTime int64
}

// Live's rules and targets. Everything runs every second, so a test sees
// evaluations and scrapes within a few seconds of the start.
const (
	LiveGroup        = "tandem-live"
	LiveBrokenGroup  = "tandem-broken"
	LiveFiringAlert  = "AlwaysFiring"
	LiveSilentAlert  = "NeverFiring"
	LiveRecording    = "job:rpc_requests:sum"
	LiveBrokenRecord = "up:duplicated"
	LiveAppJob       = "app"
	LiveDownJob      = "down"
	// LiveDroppedAddr is a target of the app job that relabelling drops.
	LiveDroppedAddr = "127.0.0.2:9"
	// LiveDownAddr is a target nobody listens on.
	LiveDownAddr = "127.0.0.1:1"
)

const liveRules = `groups:
- name: ` + LiveGroup + `
  interval: 1s
  rules:
  - record: ` + LiveRecording + `
    expr: sum by (job) (rpc_requests_total)
  - alert: ` + LiveFiringAlert + `
    expr: vector(1)
    labels: {severity: page}
    annotations: {summary: "Fires as long as rules are evaluated"}
  - alert: ` + LiveSilentAlert + `
    expr: vector(1) == 2
    for: 5m
    labels: {severity: ticket}
    annotations: {summary: "Never fires"}
- name: ` + LiveBrokenGroup + `
  interval: 1s
  rules:
  # Both targets' up series become one label set: every evaluation fails.
  - record: ` + LiveBrokenRecord + `
    expr: up
    labels: {job: all, instance: all}
`

// StartLive serves the app target and writes the rules file.
func StartLive(t testing.TB) *Live {
	t.Helper()
	l := &Live{RulesFile: filepath.Join(t.TempDir(), "rules.yml"), ExemplarTime: time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli()}
	if err := os.WriteFile(l.RulesFile, []byte(liveRules), 0o644); err != nil {
		t.Fatal(err)
	}
	exposition := liveExposition(l.ExemplarTime)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		_, _ = w.Write([]byte(exposition))
	}))
	t.Cleanup(srv.Close)
	l.App = strings.TrimPrefix(srv.URL, "http://")
	return l
}

// liveExposition is what the app target serves: a counter, a histogram
// and a gauge with help and a unit, the first two with exemplars.
func liveExposition(exemplarMs int64) string {
	ts := fmt.Sprintf("%.3f", float64(exemplarMs)/1000)
	return `# TYPE rpc_requests counter
# HELP rpc_requests Requests served.
rpc_requests_total{code="200"} 42 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 1 ` + ts + `
rpc_requests_total{code="500"} 3
# TYPE rpc_duration_seconds histogram
# HELP rpc_duration_seconds Time to serve a request.
# UNIT rpc_duration_seconds seconds
rpc_duration_seconds_bucket{le="0.1"} 40 # {trace_id="00f067aa0ba902b7a3ce929d0e0e4736"} 0.05 ` + ts + `
rpc_duration_seconds_bucket{le="+Inf"} 45 # {trace_id="5d5bbe3c0f0a1e21a3ce929d0e0e4736"} 0.7 ` + ts + `
rpc_duration_seconds_sum 3.5
rpc_duration_seconds_count 45
# TYPE room_temperature_celsius gauge
# HELP room_temperature_celsius Temperature in the lab.
# UNIT room_temperature_celsius celsius
room_temperature_celsius 21.5
# EOF
`
}

// Config returns the Config of one replica with the given external
// labels: the rules, the scrapes of the app target (one of whose targets
// relabelling drops) and of a target that is down, and exemplar storage.
func (l *Live) Config(external map[string]string) Config {
	return Config{
		ExternalLabels: external,
		ExtraConfig: `rule_files: [` + l.RulesFile + `]
scrape_configs:
- job_name: ` + LiveAppJob + `
  scrape_interval: 1s
  static_configs: [{targets: ['` + l.App + `', '` + LiveDroppedAddr + `']}]
  relabel_configs:
  - {source_labels: [__address__], regex: '` + strings.ReplaceAll(LiveDroppedAddr, ".", `\.`) + `', action: drop}
- job_name: ` + LiveDownJob + `
  scrape_interval: 1s
  scrape_timeout: 500ms
  static_configs: [{targets: ['` + LiveDownAddr + `']}]
`,
		Args: []string{"--enable-feature=exemplar-storage"},
	}
}
