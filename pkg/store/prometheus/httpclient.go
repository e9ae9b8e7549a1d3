package prometheus

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"go.yaml.in/yaml/v2"
)

// HTTPClientConfig is how the sidecar reaches its Prometheus, in the format
// of Thanos's --prometheus.http-client: TLS, basic auth or a bearer token, a
// proxy, and transport settings (durations in nanoseconds, as Thanos reads
// them).
type HTTPClientConfig struct {
	BasicAuth       BasicAuth       `yaml:"basic_auth"`
	BearerToken     string          `yaml:"bearer_token"`
	BearerTokenFile string          `yaml:"bearer_token_file"`
	ProxyURL        string          `yaml:"proxy_url"`
	TLSConfig       TLSConfig       `yaml:"tls_config"`
	TransportConfig TransportConfig `yaml:"transport_config"`
}

// BasicAuth is the basic_auth of an HTTPClientConfig.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLSConfig is the tls_config of an HTTPClientConfig.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// TransportConfig is the transport_config of an HTTPClientConfig.
type TransportConfig struct {
	MaxIdleConns          int   `yaml:"max_idle_conns"`
	MaxIdleConnsPerHost   int   `yaml:"max_idle_conns_per_host"`
	IdleConnTimeout       int64 `yaml:"idle_conn_timeout"`
	ResponseHeaderTimeout int64 `yaml:"response_header_timeout"`
	ExpectContinueTimeout int64 `yaml:"expect_continue_timeout"`
	MaxConnsPerHost       int   `yaml:"max_conns_per_host"`
	DisableCompression    bool  `yaml:"disable_compression"`
	TLSHandshakeTimeout   int64 `yaml:"tls_handshake_timeout"`
	DialerTimeout         int64 `yaml:"dialer_timeout"`
}

// ParseHTTPClientConfig reads the YAML; empty input is the default client.
// Unknown fields are an error, so that a misspelt one does not silently
// drop, say, the CA.
func ParseHTTPClientConfig(b []byte) (HTTPClientConfig, error) {
	var c HTTPClientConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, err
	}
	if c.BasicAuth.Password != "" && c.BasicAuth.PasswordFile != "" {
		return c, fmt.Errorf("basic_auth: password and password_file: give one, not both")
	}
	if c.BearerToken != "" && c.BearerTokenFile != "" {
		return c, fmt.Errorf("bearer_token and bearer_token_file: give one, not both")
	}
	if (c.BearerToken != "" || c.BearerTokenFile != "") && c.BasicAuth.Username != "" {
		return c, fmt.Errorf("basic_auth and bearer_token: give one, not both")
	}
	return c, nil
}

// Client builds the HTTP client: Transport with the config applied. The
// certificates and secret files are read now, so a missing one stops the
// start, and re-read as Prometheus's own clients re-read them.
func (c HTTPClientConfig) Client() (*http.Client, error) {
	t := Transport()
	tc := c.TransportConfig
	setInt(&t.MaxIdleConns, tc.MaxIdleConns)
	setInt(&t.MaxIdleConnsPerHost, tc.MaxIdleConnsPerHost)
	setInt(&t.MaxConnsPerHost, tc.MaxConnsPerHost)
	setDuration(&t.IdleConnTimeout, tc.IdleConnTimeout)
	setDuration(&t.ResponseHeaderTimeout, tc.ResponseHeaderTimeout)
	setDuration(&t.ExpectContinueTimeout, tc.ExpectContinueTimeout)
	setDuration(&t.TLSHandshakeTimeout, tc.TLSHandshakeTimeout)
	if tc.DialerTimeout > 0 {
		t.DialContext = dialer(time.Duration(tc.DialerTimeout)).DialContext
	}
	if c.ProxyURL != "" {
		u, err := url.Parse(c.ProxyURL)
		if err != nil {
			return nil, fmt.Errorf("proxy_url: %w", err)
		}
		t.Proxy = http.ProxyURL(u)
	}
	tls, err := config.NewTLSConfig(&config.TLSConfig{
		CAFile:             c.TLSConfig.CAFile,
		CertFile:           c.TLSConfig.CertFile,
		KeyFile:            c.TLSConfig.KeyFile,
		ServerName:         c.TLSConfig.ServerName,
		InsecureSkipVerify: c.TLSConfig.InsecureSkipVerify,
	})
	if err != nil {
		return nil, fmt.Errorf("tls_config: %w", err)
	}
	t.TLSClientConfig = tls

	var rt http.RoundTripper = t
	switch {
	case c.BearerToken != "":
		rt = config.NewAuthorizationCredentialsRoundTripper("Bearer", config.NewInlineSecret(c.BearerToken), rt)
	case c.BearerTokenFile != "":
		if err := readable(c.BearerTokenFile); err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		rt = config.NewAuthorizationCredentialsRoundTripper("Bearer", config.NewFileSecret(c.BearerTokenFile), rt)
	case c.BasicAuth.Username != "" || c.BasicAuth.Password != "" || c.BasicAuth.PasswordFile != "":
		password := config.SecretReader(config.NewInlineSecret(c.BasicAuth.Password))
		if c.BasicAuth.PasswordFile != "" {
			if err := readable(c.BasicAuth.PasswordFile); err != nil {
				return nil, fmt.Errorf("basic_auth: password_file: %w", err)
			}
			password = config.NewFileSecret(c.BasicAuth.PasswordFile)
		}
		rt = config.NewBasicAuthRoundTripper(config.NewInlineSecret(c.BasicAuth.Username), password, rt)
	}
	return &http.Client{Transport: rt}, nil
}

func setInt(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

func setDuration(dst *time.Duration, ns int64) {
	if ns > 0 {
		*dst = time.Duration(ns)
	}
}

func dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
}

// readable checks that a secret file can be read, so that a wrong path
// stops the start rather than failing every request.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// WithConfigTimeout bounds each request for what the sidecar polls
// (Prometheus's config, its metrics for the lowest timestamp, its
// readiness) by timeout, as Thanos's --prometheus.get_config_timeout
// bounds them; reads of data are bounded by their callers.
func WithConfigTimeout(hc *http.Client, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		return hc
	}
	out := *hc
	out.Transport = configTimeout{next: hc.Transport, timeout: timeout}
	return &out
}

type configTimeout struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (c configTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method != http.MethodGet:
		return c.next.RoundTrip(req)
	case strings.HasSuffix(req.URL.Path, "/api/v1/status/config"), strings.HasSuffix(req.URL.Path, "/metrics"), strings.HasSuffix(req.URL.Path, "/-/ready"):
	default:
		return c.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	resp, err := c.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends a request's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
