package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tandem-metrics/tandem/internal/certtest"
	"github.com/tandem-metrics/tandem/internal/e2etest"
)

// TestGRPCMutualTLS runs a sidecar that requires client certificates and
// queriers with right and wrong credentials: only the one with a client
// certificate from the sidecar's CA, verifying the sidecar against the
// right CA, gets data.
func TestGRPCMutualTLS(t *testing.T) {
	ca, other := certtest.NewCA(t, "tandem-ca"), certtest.NewCA(t, "other-ca")
	server, client, stranger := ca.Server("sidecar"), ca.Client("query"), other.Client("query")
	prom := replicas(t, 1)[0]
	sidecar := e2etest.Sidecar(t, prom.URL(),
		"--grpc-server-tls-cert="+server.CertFile, "--grpc-server-tls-key="+server.KeyFile,
		"--grpc-server-tls-client-ca="+ca.CertFile)

	clientFlags := func(cert certtest.Leaf, caFile string) []string {
		return []string{"--grpc-client-tls-secure", "--grpc-client-tls-cert=" + cert.CertFile,
			"--grpc-client-tls-key=" + cert.KeyFile, "--grpc-client-tls-ca=" + caFile,
			"--grpc-client-server-name=localhost"}
	}
	for _, tc := range []struct {
		name    string
		args    []string
		healthy bool
	}{
		{"client certificate from the sidecar's CA", clientFlags(client, ca.CertFile), true},
		{"plaintext client", nil, false},
		{"TLS without a client certificate", []string{"--grpc-client-tls-secure", "--grpc-client-tls-ca=" + ca.CertFile, "--grpc-client-server-name=localhost"}, false},
		{"client certificate from another CA", clientFlags(stranger, ca.CertFile), false},
		{"sidecar verified against the wrong CA", clientFlags(client, other.CertFile), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := e2etest.StartQuery(t, []string{sidecar.GRPC}, tc.args...)
			q.WaitReady("http://"+q.HTTP+"/-/ready", time.Minute)
			if tc.healthy {
				q.WaitHealthyStores(1, time.Minute)
				r := e2etest.API(t.Context(), t, "http://"+q.HTTP, "/api/v1/query", url.Values{
					"query": {"http_requests_total"}, "time": {strconv.FormatInt(base2(10).Unix(), 10)}})
				if vec := e2etest.Vector(t, r); len(vec) != targets {
					t.Fatalf("%d series over mutual TLS, want %d", len(vec), targets)
				}
				return
			}
			deadline := time.Now().Add(time.Minute)
			for {
				stores := q.Stores()
				if len(stores) == 1 && stores[0].LastError != nil {
					t.Logf("refused: %s", *stores[0].LastError)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("store never reported an error: %+v", stores)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestHTTPWebConfig serves the query's HTTP API over TLS with basic auth
// from a Prometheus web config file.
func TestHTTPWebConfig(t *testing.T) {
	ca := certtest.NewCA(t, "tandem-ca")
	server := ca.Server("query")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+server.CertFile+
		"\n  key_file: "+server.KeyFile+"\nbasic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := e2etest.StartQuery(t, nil, "--http.config="+webConfig)

	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	get := func(scheme, user, password string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+q.HTTP+"/api/v1/query?query=1%2B1&time=4", nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	deadline := time.Now().Add(time.Minute)
	for {
		code, err := get("https", "admin", "s3cret")
		if err == nil && code == http.StatusOK {
			break
		}
		if q.Exited() || time.Now().After(deadline) {
			t.Fatalf("query never answered over TLS with the right password: %d %v\n%s", code, err, q.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		name, scheme, user, password string
		code                         int
	}{
		{"no credentials", "https", "", "", http.StatusUnauthorized},
		{"wrong password", "https", "admin", "guess", http.StatusUnauthorized},
		{"unknown user", "https", "root", "s3cret", http.StatusUnauthorized},
		{"plaintext HTTP", "http", "admin", "s3cret", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := get(tc.scheme, tc.user, tc.password)
			if err != nil || code != tc.code {
				t.Errorf("got %d (%v), want %d", code, err, tc.code)
			}
		})
	}
}

// TestBadSecurityFlagsStopStart checks that unusable TLS or web config
// flags stop the process at start with a line naming the flag.
func TestBadSecurityFlagsStopStart(t *testing.T) {
	badWeb := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(badWeb, []byte("basic_auth_users: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, command, flag string
		args                []string
	}{
		{"missing server certificate", "query", "--grpc-server-tls-cert", []string{"--grpc-server-tls-cert=/nonexistent.pem", "--grpc-server-tls-key=/nonexistent.key"}},
		{"bad web config", "query", "--http.config", []string{"--http.config=" + badWeb}},
		{"client certificate without TLS", "query", "--grpc-client-tls-secure", []string{"--grpc-client-tls-cert=/x.pem"}},
		{"sidecar bad web config", "sidecar", "--http.config", []string{"--http.config=" + badWeb, "--prometheus.url=http://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := e2etest.Start(t, "tandem", append([]string{tc.command, "--http-address=127.0.0.1:0", "--grpc-address=127.0.0.1:0"}, tc.args...)...)
			p.WaitExit(t, 30*time.Second, tc.flag)
		})
	}
}
