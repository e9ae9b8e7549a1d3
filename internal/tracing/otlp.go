package tracing

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.yaml.in/yaml/v2"
	"google.golang.org/grpc/credentials"
)

// otlpConfig is the config of Thanos's type OTLP.
type otlpConfig struct {
	ClientType         string            `yaml:"client_type"`
	ServiceName        string            `yaml:"service_name"`
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	ReconnectionPeriod time.Duration     `yaml:"reconnection_period"`
	Compression        string            `yaml:"compression"`
	Insecure           bool              `yaml:"insecure"`
	Endpoint           string            `yaml:"endpoint"`
	URLPath            string            `yaml:"url_path"`
	Timeout            time.Duration     `yaml:"timeout"`
	RetryConfig        struct {
		RetryEnabled         bool          `yaml:"retry_enabled"`
		RetryInitialInterval time.Duration `yaml:"retry_initial_interval"`
		RetryMaxInterval     time.Duration `yaml:"retry_max_interval"`
		RetryMaxElapsedTime  time.Duration `yaml:"retry_max_elapsed_time"`
	} `yaml:"retry_config"`
	Headers   map[string]string `yaml:"headers"`
	TLSConfig struct {
		CAFile             string `yaml:"ca_file"`
		CertFile           string `yaml:"cert_file"`
		KeyFile            string `yaml:"key_file"`
		ServerName         string `yaml:"server_name"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	} `yaml:"tls_config"`
	SamplerType  string `yaml:"sampler_type"`
	SamplerParam string `yaml:"sampler_param"`
}

func otlpSetup(ctx context.Context, b []byte) (setup, error) {
	var c otlpConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return setup{}, err
	}
	sampler, err := otlpSampler(c.SamplerType, c.SamplerParam)
	if err != nil {
		return setup{}, err
	}
	var tlsConfig *tls.Config
	if !c.Insecure {
		if tlsConfig, err = config.NewTLSConfig(&config.TLSConfig{
			CAFile: c.TLSConfig.CAFile, CertFile: c.TLSConfig.CertFile, KeyFile: c.TLSConfig.KeyFile,
			ServerName: c.TLSConfig.ServerName, InsecureSkipVerify: c.TLSConfig.InsecureSkipVerify,
		}); err != nil {
			return setup{}, fmt.Errorf("tls_config: %w", err)
		}
	}
	s := setup{sampler: sampler, service: c.ServiceName}
	for k, v := range c.ResourceAttributes {
		s.attributes = append(s.attributes, attribute.String(k, v))
	}
	switch strings.ToLower(c.ClientType) {
	case "grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithHeaders(c.Headers)}
		if c.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConfig)))
		}
		if c.ReconnectionPeriod > 0 {
			opts = append(opts, otlptracegrpc.WithReconnectionPeriod(c.ReconnectionPeriod))
		}
		if c.Timeout > 0 {
			opts = append(opts, otlptracegrpc.WithTimeout(c.Timeout))
		}
		if c.Compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		if r := c.RetryConfig; r.RetryEnabled {
			opts = append(opts, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true,
				InitialInterval: r.RetryInitialInterval, MaxInterval: r.RetryMaxInterval, MaxElapsedTime: r.RetryMaxElapsedTime}))
		}
		s.exporter, err = otlptracegrpc.New(ctx, opts...)
	case "http":
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(c.Endpoint), otlptracehttp.WithHeaders(c.Headers)}
		if c.Insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		} else {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConfig))
		}
		if c.URLPath != "" {
			opts = append(opts, otlptracehttp.WithURLPath(c.URLPath))
		}
		if c.Timeout > 0 {
			opts = append(opts, otlptracehttp.WithTimeout(c.Timeout))
		}
		if c.Compression == "gzip" {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		if r := c.RetryConfig; r.RetryEnabled {
			opts = append(opts, otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true,
				InitialInterval: r.RetryInitialInterval, MaxInterval: r.RetryMaxInterval, MaxElapsedTime: r.RetryMaxElapsedTime}))
		}
		s.exporter, err = otlptracehttp.New(ctx, opts...)
	default:
		return setup{}, fmt.Errorf("client_type %q: want grpc or http", c.ClientType)
	}
	return s, err
}

// otlpSampler maps Thanos's OTLP sampler_type and sampler_param; without a
// type every trace is sampled unless its parent says otherwise, as in
// Thanos.
func otlpSampler(typ, param string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		r, err := strconv.ParseFloat(param, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("sampler_param %q: want a ratio between 0 and 1", param)
		}
		return r, nil
	}
	switch strings.ToLower(typ) {
	case "":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "alwayssample":
		return sdktrace.AlwaysSample(), nil
	case "neversample":
		return sdktrace.NeverSample(), nil
	case "parentbasedalwayssample":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbasedneversample":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratiobased":
		r, err := ratio()
		return sdktrace.TraceIDRatioBased(r), err
	case "parentbasedtraceidratiobased":
		r, err := ratio()
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), err
	}
	return nil, fmt.Errorf("sampler_type %q: want alwayssample, neversample, traceidratiobased or a parentbased one", typ)
}
