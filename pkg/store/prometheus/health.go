package prometheus

import (
	"context"
	"fmt"
	"net/http"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ReadyHandler answers /-/ready: 200 while the sidecar can serve, 503 with
// the reason otherwise, within about a second however Prometheus behaves.
func (t *Target) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := t.Ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
}

// Health is the sidecar's gRPC health service: SERVING exactly when
// /-/ready answers 200, for every service name. Watch is not offered;
// gRPC clients then check with Check, as Kubernetes's gRPC probes do.
type Health struct {
	healthpb.UnimplementedHealthServer
	target *Target
}

// NewHealth returns the health service of target's sidecar.
func NewHealth(target *Target) *Health { return &Health{target: target} }

// Check implements healthpb.HealthServer.
func (h *Health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st := healthpb.HealthCheckResponse_SERVING
	if h.target.Ready(ctx) != nil {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}
