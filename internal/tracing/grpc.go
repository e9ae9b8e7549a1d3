package tracing

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/thanos-io/thanos/pkg/store/storepb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// propagator carries traces between processes: W3C trace context, which
// Prometheus and Thanos read too.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

const instrumentation = "github.com/tandem-metrics/tandem"

func traceState(p sdktrace.SamplingParameters) trace.TraceState {
	return trace.SpanContextFromContext(p.ParentContext).TraceState()
}

// metadataCarrier reads and writes trace context in gRPC metadata.
type metadataCarrier metadata.MD

func (m metadataCarrier) Get(key string) string {
	if v := metadata.MD(m).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (m metadataCarrier) Set(key, value string) { metadata.MD(m).Set(key, value) }
func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// ServerOptions trace every call a gRPC server serves, as a child of the
// trace its caller sent.
func ServerOptions(tp trace.TracerProvider) []grpc.ServerOption {
	tracer := tp.Tracer(instrumentation)
	start := func(ctx context.Context, method string) (context.Context, trace.Span) {
		md, _ := metadata.FromIncomingContext(ctx)
		ctx = propagator.Extract(ctx, metadataCarrier(md))
		return tracer.Start(ctx, strings.TrimPrefix(method, "/"), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(rpcAttributes(method)...))
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, span := start(ctx, info.FullMethod)
			resp, err := handler(ctx, req)
			end(span, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ctx, span := start(ss.Context(), info.FullMethod)
			err := handler(srv, serverStream{ServerStream: ss, ctx: ctx})
			end(span, err)
			return err
		}),
	}
}

type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s serverStream) Context() context.Context { return s.ctx }

// DialOptions trace every call a gRPC client makes and send the trace
// along. A Series call's span counts what the store sent: series, chunks
// and bytes; its peer is the store's address.
func DialOptions(tp trace.TracerProvider) []grpc.DialOption {
	tracer := tp.Tracer(instrumentation)
	start := func(ctx context.Context, method string, cc *grpc.ClientConn) (context.Context, trace.Span) {
		ctx, span := tracer.Start(ctx, strings.TrimPrefix(method, "/"), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(append(rpcAttributes(method), peerAttributes(cc.Target())...)...))
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		propagator.Inject(ctx, metadataCarrier(md))
		return metadata.NewOutgoingContext(ctx, md), span
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			ctx, span := start(ctx, method, cc)
			err := invoker(ctx, method, req, reply, cc, opts...)
			end(span, err)
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			ctx, span := start(ctx, method, cc)
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				end(span, err)
				return nil, err
			}
			return &clientStream{ClientStream: cs, span: span}, nil
		}),
	}
}

// clientStream ends its span when the stream ends, with what it received.
type clientStream struct {
	grpc.ClientStream
	span                   trace.Span
	series, chunks, frames int
	bytes                  int
	ended                  bool
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.count(m)
		return nil
	}
	if !s.ended {
		s.ended = true
		s.span.SetAttributes(
			attribute.Int("tandem.store.frames", s.frames),
			attribute.Int("tandem.store.series", s.series),
			attribute.Int("tandem.store.chunks", s.chunks),
			attribute.Int("tandem.store.bytes", s.bytes),
		)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		end(s.span, err)
	}
	return err
}

func (s *clientStream) count(m any) {
	resp, ok := m.(*storepb.SeriesResponse)
	if !ok {
		return
	}
	s.frames++
	s.bytes += resp.Size()
	if series := resp.GetSeries(); series != nil {
		s.series++
		s.chunks += len(series.Chunks)
	}
	if batch := resp.GetBatch(); batch != nil {
		for _, series := range batch.Series {
			s.series++
			s.chunks += len(series.Chunks)
		}
	}
}

func rpcAttributes(method string) []attribute.KeyValue {
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return []attribute.KeyValue{attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", service), attribute.String("rpc.method", name)}
}

func peerAttributes(target string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(target, "passthrough:///"))
	if err != nil {
		return []attribute.KeyValue{attribute.String("server.address", target)}
	}
	return []attribute.KeyValue{attribute.String("server.address", host), attribute.String("server.port", port)}
}

func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attribute.String("rpc.grpc.status_code", status.Code(err).String()))
	}
	span.End()
}
