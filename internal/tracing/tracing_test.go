package tracing

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name, config, wantErr string
	}{
		{name: "empty"},
		{name: "OTLP gRPC", config: "type: OTLP\nconfig:\n  client_type: grpc\n  endpoint: 127.0.0.1:4317\n  insecure: true\n"},
		{name: "OTLP HTTP with TLS", config: "type: otlp\nconfig:\n  client_type: http\n  endpoint: 127.0.0.1:4318\n  sampler_type: traceidratiobased\n  sampler_param: '0.5'\n"},
		// kube-thanos's example, JSON-style keys included.
		{name: "JAEGER", config: "\"config\":\n  \"sampler_param\": 2\n  \"sampler_type\": \"ratelimiting\"\n  \"service_name\": \"thanos-query\"\n\"type\": \"JAEGER\"\n"},
		{name: "JAEGER collector", config: "type: JAEGER\nconfig:\n  endpoint: http://127.0.0.1:14268/api/traces\n  sampler_type: const\n  sampler_param: 1\n"},
		{name: "no type", config: "config: {}\n", wantErr: "type: missing"},
		{name: "other type", config: "type: STACKDRIVER\n", wantErr: "type STACKDRIVER: not supported"},
		{name: "bad client type", config: "type: OTLP\nconfig:\n  client_type: udp\n", wantErr: `client_type "udp"`},
		{name: "misspelt field", config: "type: OTLP\nconfig:\n  client_type: grpc\n  endpont: x\n", wantErr: "endpont"},
		{name: "bad ratio", config: "type: OTLP\nconfig:\n  client_type: grpc\n  sampler_type: traceidratiobased\n  sampler_param: two\n", wantErr: "sampler_param"},
		{name: "remote sampling", config: "type: JAEGER\nconfig:\n  sampler_type: remote\n", wantErr: "remote sampling is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(context.Background(), []byte(tc.config), "test")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = p.Shutdown(context.Background())
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestRateLimiting checks that Jaeger's ratelimiting sampler lets through
// at most its rate: of 100 traces started at once, 2.
func TestRateLimiting(t *testing.T) {
	s := newRateLimiting(2)
	var sampled int
	for range 100 {
		if s.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: trace.TraceID{1}}).Decision == sdktrace.RecordAndSample {
			sampled++
		}
	}
	if sampled != 2 {
		t.Errorf("sampled %d of 100 traces started at once, want 2", sampled)
	}
}
