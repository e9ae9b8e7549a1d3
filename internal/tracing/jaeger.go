package tracing

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.yaml.in/yaml/v2"
)

// jaegerConfig is the config of Thanos's type JAEGER (the fields of the
// Jaeger client that Thanos reads).
type jaegerConfig struct {
	ServiceName            string        `yaml:"service_name"`
	Disabled               bool          `yaml:"disabled"`
	RPCMetrics             bool          `yaml:"rpc_metrics"`
	Tags                   string        `yaml:"tags"`
	SamplerType            string        `yaml:"sampler_type"`
	SamplerParam           float64       `yaml:"sampler_param"`
	SamplerManagerHostPort string        `yaml:"sampler_manager_host_port"`
	SamplerMaxOperations   int           `yaml:"sampler_max_operations"`
	SamplerRefreshInterval time.Duration `yaml:"sampler_refresh_interval"`
	SamplerParentConfig    struct {
		LocalParentSampled  bool `yaml:"local_parent_sampled"`
		RemoteParentSampled bool `yaml:"remote_parent_sampled"`
	} `yaml:"sampler_parent_config"`
	SamplingServerURL                  string        `yaml:"sampling_server_url"`
	OperationNameLateBinding           bool          `yaml:"operation_name_late_binding"`
	InitialSamplingRate                float64       `yaml:"initial_sampler_rate"`
	ReporterMaxQueueSize               int           `yaml:"reporter_max_queue_size"`
	ReporterFlushInterval              time.Duration `yaml:"reporter_flush_interval"`
	ReporterLogSpans                   bool          `yaml:"reporter_log_spans"`
	ReporterDisableAttemptReconnecting bool          `yaml:"reporter_disable_attempt_reconnecting"`
	ReporterAttemptReconnectInterval   time.Duration `yaml:"reporter_attempt_reconnect_interval"`
	Endpoint                           string        `yaml:"endpoint"`
	User                               string        `yaml:"user"`
	Password                           string        `yaml:"password"`
	AgentHost                          string        `yaml:"agent_host"`
	AgentPort                          int           `yaml:"agent_port"`
	Gen128Bit                          bool          `yaml:"traceid_128bit"`
}

// The ports on which a Jaeger collector (or agent, or OpenTelemetry
// collector) receives OTLP.
const (
	jaegerOTLPGRPCPort = "4317"
	jaegerOTLPHTTPPort = "4318"
)

// jaegerSetup maps a JAEGER config as Thanos maps it to OpenTelemetry: the
// service name and tags become the resource, sampler_type and
// sampler_param the sampler, inside a parent-based one. Jaeger's own wire
// protocols are gone from OpenTelemetry, and Jaeger takes OTLP, so the
// spans go there as OTLP: to the collector at endpoint over OTLP/HTTP on
// its port 4318 (basic auth from user and password), or else to
// agent_host (default localhost) over OTLP/gRPC on port 4317.
func jaegerSetup(ctx context.Context, b []byte) (setup, error) {
	var c jaegerConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return setup{}, err
	}
	sampler, err := jaegerSampler(c)
	if err != nil {
		return setup{}, err
	}
	s := setup{sampler: sampler, service: c.ServiceName}
	for kv := range strings.SplitSeq(c.Tags, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			s.attributes = append(s.attributes, attribute.String(k, v))
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Hostname() == "" {
			return setup{}, fmt.Errorf("endpoint %q: want the collector's URL, e.g. http://jaeger-collector:14268/api/traces", c.Endpoint)
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(net.JoinHostPort(u.Hostname(), jaegerOTLPHTTPPort))}
		if u.Scheme != "https" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if c.User != "" {
			auth := base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Password))
			opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"Authorization": "Basic " + auth}))
		}
		s.exporter, err = otlptracehttp.New(ctx, opts...)
		return s, err
	}
	host := c.AgentHost
	if host == "" {
		host = "localhost"
	}
	s.exporter, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(net.JoinHostPort(host, jaegerOTLPGRPCPort)), otlptracegrpc.WithInsecure())
	return s, err
}

func jaegerSampler(c jaegerConfig) (sdktrace.Sampler, error) {
	var root sdktrace.Sampler
	switch c.SamplerType {
	case "const":
		root = sdktrace.NeverSample()
		if math.Round(min(max(c.SamplerParam, 0), 1)) == 1 {
			root = sdktrace.AlwaysSample()
		}
	case "probabilistic":
		root = sdktrace.TraceIDRatioBased(c.SamplerParam)
	case "", "ratelimiting":
		root = newRateLimiting(math.Round(c.SamplerParam))
	default:
		return nil, fmt.Errorf("sampler_type %q: want const, probabilistic or ratelimiting (remote sampling is not supported)", c.SamplerType)
	}
	var opts []sdktrace.ParentBasedSamplerOption
	if c.SamplerParentConfig.LocalParentSampled {
		opts = append(opts, sdktrace.WithLocalParentSampled(root))
	}
	if c.SamplerParentConfig.RemoteParentSampled {
		opts = append(opts, sdktrace.WithRemoteParentSampled(root))
	}
	return sdktrace.ParentBased(root, opts...), nil
}

// rateLimiting samples at most perSecond traces a second, as Jaeger's
// rate-limiting sampler does: a token bucket of perSecond tokens.
type rateLimiting struct {
	perSecond float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newRateLimiting(perSecond float64) *rateLimiting {
	return &rateLimiting{perSecond: perSecond, tokens: perSecond, last: time.Now()}
}

func (r *rateLimiting) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	r.mu.Lock()
	now := time.Now()
	r.tokens = min(r.perSecond, r.tokens+now.Sub(r.last).Seconds()*r.perSecond)
	r.last = now
	decision := sdktrace.Drop
	if r.tokens >= 1 {
		r.tokens--
		decision = sdktrace.RecordAndSample
	}
	r.mu.Unlock()
	return sdktrace.SamplingResult{Decision: decision, Tracestate: traceState(p)}
}

func (r *rateLimiting) Description() string {
	return "RateLimiting{" + strconv.FormatFloat(r.perSecond, 'g', -1, 64) + "}"
}
