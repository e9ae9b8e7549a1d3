package store_test

import (
	"context"
	"net"
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
