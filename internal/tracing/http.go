package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
)

func spanName(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }

// Handler traces every request h serves, as a child of the trace the
// request carries.
func Handler(tp trace.TracerProvider, h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "http", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(spanName))
}

// Transport traces every request sent through rt and carries the trace
// along, so that a Prometheus that traces continues it.
func Transport(tp trace.TracerProvider, rt http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(spanName))
}
