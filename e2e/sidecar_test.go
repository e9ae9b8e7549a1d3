package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/certtest"
	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
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

// TestSidecarHTTPClientConfig puts Prometheus behind TLS and basic auth, as
// kube-rbac-proxy or an ingress would, and checks that the sidecar reaches
// it with --prometheus.http-client-file in Thanos's format, and only so.
func TestSidecarHTTPClientConfig(t *testing.T) {
	prom := replicas(t, 1)[0]
	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	ca := certtest.NewCA(t, "tandem")
	cert := ca.Server("prometheus")
	proxy := promtest.Proxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "sidecar" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(lis, cert.CertFile, cert.KeyFile) }()
	t.Cleanup(func() { _ = srv.Close() })
	promURL := "https://localhost:" + strings.Split(lis.Addr().String(), ":")[1]

	password := writeFile(t, "password", "s3cret")
	good := writeFile(t, "http-client.yaml", "tls_config:\n  ca_file: "+ca.CertFile+"\nbasic_auth:\n  username: sidecar\n  password_file: "+password+"\n")
	sidecar := e2etest.Sidecar(t, promURL, "--prometheus.http-client-file="+good)
	thanos := e2etest.ThanosQuery(t, []string{sidecar.GRPC})
	thanos.WaitHealthyStores(1, time.Minute)
	at := strconv.FormatInt(base.Add(time.Hour).Unix(), 10)
	if v := e2etest.Vector(t, e2etest.API(context.Background(), t, "http://"+thanos.HTTP, "/api/v1/query", url.Values{"query": {"count(http_requests_total)"}, "time": {at}})); len(v) != 1 || v[0].Value[1] != strconv.Itoa(targets) {
		t.Fatalf("read %v through the sidecar, want %d series", v, targets)
	}

	// Without the password Prometheus refuses, and the sidecar says so.
	noAuth := writeFile(t, "no-auth.yaml", "tls_config:\n  ca_file: "+ca.CertFile+"\n")
	addrs := promtest.FreeAddrs(t, 2)
	p := e2etest.Start(t, "tandem", "sidecar", "--prometheus.url="+promURL, "--prometheus.http-client-file="+noAuth,
		"--grpc-address="+addrs[0], "--http-address="+addrs[1])
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addrs[1] + "/-/ready")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "401") {
				break
			}
			if resp.StatusCode == http.StatusOK {
				t.Fatal("sidecar without the password is ready")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sidecar without the password never said why it is not ready:\n%s", p.Log())
		}
		time.Sleep(100 * time.Millisecond) // polling, not synchronisation
	}
}
