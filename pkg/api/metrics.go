package api

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's own metrics, per endpoint.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP API requests by handler (Thanos's names: query, query_range, ...), method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        "http_request_duration_seconds",
			Help:                        "HTTP API request latency by handler, method and status code.",
			Buckets:                     prometheus.DefBuckets,
			NativeHistogramBucketFactor: 1.1,
		}, []string{"handler", "method", "code"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// handlerName is the handler label Thanos gives a route, which its alerts
// and dashboards select: "/api/v1/query_range" is query_range,
// "/api/v1/label/{name}/values" label_values.
func handlerName(pattern string) string {
	if pattern == "/api/v1/label/{name}/values" {
		return "label_values"
	}
	return strings.ReplaceAll(strings.TrimPrefix(pattern, "/api/v1/"), "/", "_")
}

func (m *metrics) instrument(pattern string, h http.Handler) http.Handler {
	handler := handlerName(pattern)
	return promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(prometheus.Labels{"handler": handler}),
		promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(prometheus.Labels{"handler": handler}), h))
}

// registerGate exports the concurrency gate under Thanos's names, which its
// ThanosQueryOverload alert compares.
func (m *metrics) registerGate(reg prometheus.Registerer, gate chan struct{}) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "thanos_query_concurrent_gate_queries_in_flight",
			Help: "Queries evaluated now (--query.max-concurrent bounds them).",
		}, func() float64 { return float64(len(gate)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "thanos_query_concurrent_gate_queries_max",
			Help: "Queries that may be evaluated at once (--query.max-concurrent).",
		}, func() float64 { return float64(cap(gate)) }),
	)
}
