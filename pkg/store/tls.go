package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ServerTLS holds the --grpc-server-tls-* flags.
type ServerTLS struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, requires and verifies client certificates
	// (mutual TLS).
	ClientCAFile string
	MinVersion   string
}

// Credentials returns the server's transport credentials: plaintext when no
// certificate is configured. The certificate and key are re-read when their
// files change, so a rotated certificate needs no restart.
func (c ServerTLS) Credentials() (credentials.TransportCredentials, error) {
	if c.CertFile == "" && c.KeyFile == "" {
		if c.ClientCAFile != "" {
			return nil, errors.New("--grpc-server-tls-client-ca needs --grpc-server-tls-cert and --grpc-server-tls-key")
		}
		return insecure.NewCredentials(), nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("--grpc-server-tls-cert and --grpc-server-tls-key go together")
	}
	minVersion, err := tlsVersion(c.MinVersion)
	if err != nil {
		return nil, fmt.Errorf("--grpc-server-tls-min-version: %w", err)
	}
	kp := &keyPair{certFile: c.CertFile, keyFile: c.KeyFile}
	if _, err := kp.get(); err != nil {
		return nil, fmt.Errorf("--grpc-server-tls-cert/--grpc-server-tls-key: %w", err)
	}
	cfg := &tls.Config{
		MinVersion: minVersion,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
	}
	if c.ClientCAFile != "" {
		pool, err := certPool(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--grpc-server-tls-client-ca: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// ClientTLS holds the --grpc-client-tls-* flags.
type ClientTLS struct {
	Secure     bool
	SkipVerify bool
	// CertFile and KeyFile are the client's certificate for mutual TLS.
	CertFile, KeyFile string
	CAFile            string
	ServerName        string
}

// Credentials returns the client's transport credentials: plaintext unless
// Secure is set.
func (c ClientTLS) Credentials() (credentials.TransportCredentials, error) {
	if !c.Secure {
		if c.CertFile != "" || c.CAFile != "" {
			return nil, errors.New("--grpc-client-tls-cert/--grpc-client-tls-ca need --grpc-client-tls-secure")
		}
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.SkipVerify}
	if c.CAFile != "" {
		pool, err := certPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--grpc-client-tls-ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("--grpc-client-tls-cert and --grpc-client-tls-key go together")
	}
	if c.CertFile != "" {
		kp := &keyPair{certFile: c.CertFile, keyFile: c.KeyFile}
		if _, err := kp.get(); err != nil {
			return nil, fmt.Errorf("--grpc-client-tls-cert/--grpc-client-tls-key: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		}
	}
	return credentials.NewTLS(cfg), nil
}

func tlsVersion(v string) (uint16, error) {
	switch v {
	case "", "1.3":
		return tls.VersionTLS13, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.0":
		return tls.VersionTLS10, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q (want 1.0, 1.1, 1.2 or 1.3)", v)
}

func certPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return pool, nil
}

// keyPair loads a certificate and key, again whenever either file's
// modification time changes.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

func (k *keyPair) get() (*tls.Certificate, error) {
	cs, err := os.Stat(k.certFile)
	if err != nil {
		return nil, err
	}
	ks, err := os.Stat(k.keyFile)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && cs.ModTime().Equal(k.certMod) && ks.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // mid-rotation: keep serving the last good pair
		}
		return nil, err
	}
	k.cert, k.certMod, k.keyMod = &cert, cs.ModTime(), ks.ModTime()
	return k.cert, nil
}
