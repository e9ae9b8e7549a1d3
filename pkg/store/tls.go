package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
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
	// CipherSuites and Curves are Go's names (tls.CipherSuiteName, e.g.
	// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; CurveP256, X25519); empty
	// means Go's defaults. An element may hold several, comma-separated, as
	// the Prometheus Operator writes them.
	CipherSuites []string
	Curves       []string
}

// Credentials returns the server's transport credentials: plaintext when no
// certificate is configured. The certificate and key are re-read when their
// files change, so a rotated certificate needs no restart.
func (c ServerTLS) Credentials() (credentials.TransportCredentials, error) {
	// Checked even without TLS, so that a misspelt name is never a surprise
	// once a certificate is added.
	ciphers, err := cipherSuites(c.CipherSuites)
	if err != nil {
		return nil, fmt.Errorf("--grpc-server-tls-ciphers: %w", err)
	}
	curves, err := curveIDs(c.Curves)
	if err != nil {
		return nil, fmt.Errorf("--grpc-server-tls-curves: %w", err)
	}
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
		MinVersion:       minVersion,
		CipherSuites:     ciphers,
		CurvePreferences: curves,
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
	MinVersion        string
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
	minVersion, err := tlsVersion(c.MinVersion)
	if err != nil {
		return nil, fmt.Errorf("--grpc-client-tls-min-version: %w", err)
	}
	cfg := &tls.Config{MinVersion: minVersion, ServerName: c.ServerName, InsecureSkipVerify: c.SkipVerify}
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

// splitNames splits comma-separated elements and drops empty ones.
func splitNames(in []string) []string {
	var out []string
	for _, s := range in {
		for n := range strings.SplitSeq(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// cipherSuites maps names to the IDs of the suites Go considers secure.
// TLS 1.3's suites are not configurable in Go: they are always on.
func cipherSuites(names []string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		known[cs.Name] = cs.ID
	}
	var ids []uint16
	for _, n := range splitNames(names) {
		id, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("unknown or insecure cipher suite %q", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func curveIDs(names []string) ([]tls.CurveID, error) {
	known := map[string]tls.CurveID{
		"CurveP256": tls.CurveP256, "CurveP384": tls.CurveP384, "CurveP521": tls.CurveP521,
		"X25519": tls.X25519, "X25519MLKEM768": tls.X25519MLKEM768,
		"SecP256r1MLKEM768": tls.SecP256r1MLKEM768, "SecP384r1MLKEM1024": tls.SecP384r1MLKEM1024,
	}
	var ids []tls.CurveID
	for _, n := range splitNames(names) {
		id, ok := known[n]
		if !ok {
			return nil, fmt.Errorf("unknown curve %q (want CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768, SecP256r1MLKEM768 or SecP384r1MLKEM1024)", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
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
