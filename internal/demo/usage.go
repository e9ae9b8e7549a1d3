package demo

import (
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"
)

// Example queries, each telling a different part of the story when the
// Deduplication checkbox is off: gaps, doubled sums, and a histogram whose
// quantile is unchanged.
var examples = []string{
	`demo_http_requests_total{instance="app-0:8080", code="200"}`,
	`sum by (code) (rate(demo_http_requests_total[5m]))`,
	`histogram_quantile(0.99, sum by (instance, le) (rate(demo_http_request_duration_seconds_bucket[5m])))`,
}

func printUsage(out io.Writer, cfg Config, h History, logDir string) {
	ui := "http://" + cfg.QueryHTTP
	fmt.Fprintf(out, "\nTandem is ready. UI: %s/\n\n", ui)
	fmt.Fprintf(out, "Prometheus r0: http://%s  r1: http://%s  (external labels cluster=\"demo\", replica=\"r0\"/\"r1\")\n", cfg.Prometheus[0], cfg.Prometheus[1])
	fmt.Fprintf(out, "Store API: query %s, sidecars %s and %s. Logs: %s\n\n", cfg.QueryGRPC, cfg.SidecarGRPC[0], cfg.SidecarGRPC[1], logDir)
	fmt.Fprintf(out, "History from %s to %s, a scrape every %v, a few missed; outages:\n",
		h.Start().UTC().Format(time.RFC3339), h.End.UTC().Format(time.RFC3339), h.Interval)
	for _, o := range h.Outages() {
		fmt.Fprintf(out, "  %s down from %s to %s (%v)\n", o.Replica, o.Start.UTC().Format(time.RFC3339), o.End.UTC().Format(time.RFC3339), o.End.Sub(o.Start))
	}
	fmt.Fprintf(out, "\nGraph the last %v in the UI, with its Deduplication checkbox on and off:\n", model.Duration(h.Length))
	for i, q := range examples {
		fmt.Fprintf(out, "  %d. %s\n", i+1, q)
	}
	window := model.Duration(h.Length)
	q := fmt.Sprintf(`count_over_time(demo_http_requests_total{instance="app-0:8080", code="200"}[%s])`, window)
	fmt.Fprintf(out, "\nSamples in the whole history: one complete series with dedup, one per replica, each with its outage, without:\n")
	for _, dedup := range []bool{true, false} {
		fmt.Fprintf(out, "  curl -sG %s/api/v1/query -d dedup=%t -d time=%d --data-urlencode '%s'\n", ui, dedup, h.End.Unix(), "query="+q)
	}
	fmt.Fprintf(out, "\nLive data is duplicated too: both replicas scrape every component.\n")
	for _, dedup := range []bool{true, false} {
		fmt.Fprintf(out, "  curl -sG %s/api/v1/query -d dedup=%t --data-urlencode 'query=count(up)'\n", ui, dedup)
	}
	fmt.Fprintf(out, "\nCtrl-C stops everything.\n")
}
