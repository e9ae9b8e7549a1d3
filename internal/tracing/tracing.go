// Package tracing builds the OpenTelemetry tracer that --tracing.config
// describes, in Thanos's format, and traces the gRPC calls between Tandem's
// components, carrying each trace across them in W3C trace context.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.yaml.in/yaml/v2"
)

// Provider is the tracer provider of a process and how to flush it.
type Provider struct {
	trace.TracerProvider
	shutdown func(context.Context) error
}

// Shutdown sends the spans still buffered and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	return p.shutdown(ctx)
}

// fileConfig is the top level of Thanos's tracing config.
type fileConfig struct {
	Type   string        `yaml:"type"`
	Config yaml.MapSlice `yaml:"config"`
}

// New parses a tracing config in Thanos's format and builds its provider;
// empty input traces nothing. defaultService names the process when the
// config does not. Types OTLP (client_type grpc or http) and JAEGER (whose
// collector takes OTLP, see jaeger.go) are supported; the others are an
// error that says so.
func New(ctx context.Context, b []byte, defaultService string) (*Provider, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	var fc fileConfig
	if err := yaml.UnmarshalStrict(b, &fc); err != nil {
		return nil, err
	}
	inner, err := yaml.Marshal(fc.Config)
	if err != nil {
		return nil, err
	}
	var s setup
	switch strings.ToUpper(fc.Type) {
	case "OTLP":
		s, err = otlpSetup(ctx, inner)
	case "JAEGER":
		s, err = jaegerSetup(ctx, inner)
	case "":
		return nil, errors.New("type: missing; want OTLP or JAEGER")
	default:
		return nil, fmt.Errorf("type %s: not supported; use OTLP (or JAEGER, exported as OTLP)", fc.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.ToUpper(fc.Type), err)
	}
	if s.service == "" {
		s.service = defaultService
	}
	res, err := resource.New(ctx, resource.WithAttributes(append(s.attributes, semconv.ServiceName(s.service))...))
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(s.exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.sampler),
	)
	return &Provider{TracerProvider: tp, shutdown: tp.Shutdown}, nil
}

// setup is what a config type yields.
type setup struct {
	exporter   sdktrace.SpanExporter
	sampler    sdktrace.Sampler
	service    string
	attributes []attribute.KeyValue
}
