package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-metrics/tandem/internal/e2etest"
)

// TestSidecarHTTP checks what the sidecar serves on its HTTP port: health,
// readiness, its metrics and Go's profiles.
func TestSidecarHTTP(t *testing.T) {
	sidecar := e2etest.Sidecar(t, replicas(t, 1)[0].URL())
	for _, tc := range []struct{ path, want string }{
		{"/-/healthy", ""},
		{"/-/ready", ""},
		{"/metrics", "tandem_sidecar_remote_read_bytes_total"},
		// Thanos's names, which its alerts and dashboards read.
		{"/metrics", "thanos_sidecar_prometheus_up 1"},
		{"/metrics", `grpc_server_started_total{grpc_method="Series",grpc_service="thanos.Store",grpc_type="server_stream"} 0`},
		{"/metrics", `reloader_reloads_total 0`},
		{"/debug/pprof/heap?debug=1", "heap profile:"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get("http://" + sidecar.HTTP + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d, want 200 with %q: %.200s", resp.StatusCode, tc.want, body)
			}
		})
	}
}
