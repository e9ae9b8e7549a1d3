package store_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/internal/certtest"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// TestMutualTLS serves the Store API with mutual TLS and checks who gets in.
func TestMutualTLS(t *testing.T) {
	ca := certtest.NewCA(t, "tandem")
	otherCA := certtest.NewCA(t, "other")
	serverCert := ca.Server("sidecar")
	goodClient := ca.Client("query")
	strangerClient := otherCA.Client("stranger")

	creds, err := store.ServerTLS{CertFile: serverCert.CertFile, KeyFile: serverCert.KeyFile, ClientCAFile: ca.CertFile}.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	storepb.RegisterStoreServer(srv, &manySeries{n: 3})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	for _, tc := range []struct {
		name    string
		client  store.ClientTLS
		wantErr string // empty: the call succeeds
	}{
		{"mutual TLS", store.ClientTLS{Secure: true, CAFile: ca.CertFile, CertFile: goodClient.CertFile, KeyFile: goodClient.KeyFile, ServerName: "localhost"}, ""},
		{"plaintext client", store.ClientTLS{}, "Unavailable"},
		{"client trusts another CA", store.ClientTLS{Secure: true, CAFile: otherCA.CertFile, CertFile: goodClient.CertFile, KeyFile: goodClient.KeyFile, ServerName: "localhost"}, "certificate signed by unknown authority"},
		{"client without certificate", store.ClientTLS{Secure: true, CAFile: ca.CertFile, ServerName: "localhost"}, "Unavailable"},
		{"client certificate from another CA", store.ClientTLS{Secure: true, CAFile: ca.CertFile, CertFile: strangerClient.CertFile, KeyFile: strangerClient.KeyFile, ServerName: "localhost"}, "Unavailable"},
		{"wrong server name", store.ClientTLS{Secure: true, CAFile: ca.CertFile, CertFile: goodClient.CertFile, KeyFile: goodClient.KeyFile, ServerName: "elsewhere"}, "certificate is valid for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, err := tc.client.Credentials()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = storepb.NewStoreClient(conn).LabelNames(ctx, &storepb.LabelNamesRequest{})
			// manySeries does not implement LabelNames: reaching it at all
			// means the handshake let the client in.
			in := err != nil && strings.Contains(err.Error(), "Unimplemented")
			switch {
			case tc.wantErr == "" && !in:
				t.Fatalf("want the call to reach the server, got %v", err)
			case tc.wantErr != "" && (in || err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want refusal containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestTLSFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"server cert without key", func() error { _, err := (store.ServerTLS{CertFile: "c.pem"}).Credentials(); return err }, "--grpc-server-tls-cert and --grpc-server-tls-key go together"},
		{"server CA without cert", func() error { _, err := (store.ServerTLS{ClientCAFile: "ca.pem"}).Credentials(); return err }, "--grpc-server-tls-client-ca needs"},
		{"server cert missing", func() error {
			_, err := (store.ServerTLS{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent-key.pem"}).Credentials()
			return err
		}, "no such file"},
		{"bad min version", func() error {
			ca := certtest.NewCA(t, "x")
			l := ca.Server("s")
			_, err := (store.ServerTLS{CertFile: l.CertFile, KeyFile: l.KeyFile, MinVersion: "1.9"}).Credentials()
			return err
		}, `unknown TLS version "1.9"`},
		{"client CA without secure", func() error { _, err := (store.ClientTLS{CAFile: "ca.pem"}).Credentials(); return err }, "need --grpc-client-tls-secure"},
		{"client cert without key", func() error {
			_, err := (store.ClientTLS{Secure: true, CertFile: "c.pem"}).Credentials()
			return err
		}, "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// TestServerCiphersAndCurves checks that --grpc-server-tls-ciphers and
// --grpc-server-tls-curves are what the server negotiates: a client that
// offers only others is refused.
func TestServerCiphersAndCurves(t *testing.T) {
	ca := certtest.NewCA(t, "tandem")
	cert := ca.Server("sidecar")
	creds, err := store.ServerTLS{
		CertFile: cert.CertFile, KeyFile: cert.KeyFile, MinVersion: "1.2",
		// As the Prometheus Operator writes them: one flag, comma-separated.
		CipherSuites: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
		Curves:       []string{"CurveP384"},
	}.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("read CA: %v", err)
	}

	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"allowed cipher", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, CurvePreferences: []tls.CurveID{tls.CurveP384}}, true},
		{"other cipher", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, CurvePreferences: []tls.CurveID{tls.CurveP384}}, false},
		{"allowed curve", &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}, true},
		{"other curve", &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.Clone()
			cfg.RootCAs, cfg.ServerName, cfg.NextProtos = pool, "localhost", []string{"h2"}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", lis.Addr().String(), cfg)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("handshake error %v, want success %v", err, tc.wantOK)
			}
		})
	}
}
