package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/internal/tracing"
)

// globalFlags are the application's own flags, which Thanos also declares
// before the subcommand and accepts anywhere on the command line.
type globalFlags struct {
	log     promslog.Config
	tracing *pathOrContent
}

func registerGlobalFlags(app *kingpin.Application) *globalFlags {
	g := &globalFlags{}
	promslogflag.AddFlags(app, &g.log)
	g.tracing = registerPathOrContent(app, "tracing.config", "YAML with the tracing config, in Thanos's format (type: OTLP or JAEGER).", true)
	return g
}

// serverFlags are the flags of the two servers every subcommand runs, with
// Thanos's names and defaults: listen addresses, grace periods, TLS and
// the HTTP web config.
type serverFlags struct {
	grpcAddr, httpAddr   string
	grpcGrace, httpGrace time.Duration
	maxConnectionAge     time.Duration
	*serve.Config
}

func registerServerFlags(cmd *kingpin.CmdClause, grpcHelp string) *serverFlags {
	f := &serverFlags{}
	cmd.Flag("grpc-address", grpcHelp).
		Default("0.0.0.0:10901").StringVar(&f.grpcAddr)
	cmd.Flag("http-address", "Listen host:port for HTTP endpoints.").
		Default("0.0.0.0:10902").StringVar(&f.httpAddr)
	cmd.Flag("grpc-grace-period", "Time to let in-flight gRPC calls finish at shutdown.").
		Default("2m").DurationVar(&f.grpcGrace)
	cmd.Flag("http-grace-period", "Time to let in-flight HTTP requests finish at shutdown.").
		Default("2m").DurationVar(&f.httpGrace)
	f.Config = serve.AddFlags(cmd)
	cmd.Flag("grpc-server-tls-ciphers", "TLS cipher suites of the gRPC server, by Go's names (repeatable, or comma-separated); empty: Go's defaults.").
		StringsVar(&f.GRPCTLS.CipherSuites)
	cmd.Flag("grpc-server-tls-curves", "TLS curves of the gRPC server: CurveP256, CurveP384, CurveP521, X25519, ... (repeatable, or comma-separated); empty: Go's defaults.").
		StringsVar(&f.GRPCTLS.Curves)
	cmd.Flag("grpc-server-max-connection-age", "How long a client's gRPC connection lives before the server asks it to reconnect (and redo the TLS handshake).").
		Default("60m").DurationVar(&f.maxConnectionAge)
	return f
}

// newDaemon checks the servers' flags, opens both listeners and returns
// the daemon serving grpcSrv and, traced, handler, with background running
// beside them. Addresses take every form Thanos's manifests use: ":10901",
// "0.0.0.0:10901", and an IPv4 or IPv6 address in brackets such as
// "[$(POD_IP)]:10901".
func (f *serverFlags) newDaemon(env environment, grpcSrv *grpc.Server, handler http.Handler, background ...func(context.Context) error) (*daemon, error) {
	if err := f.ValidateHTTP(); err != nil {
		return nil, err
	}
	grpcLis, err := net.Listen("tcp", f.grpcAddr)
	if err != nil {
		return nil, fmt.Errorf("--grpc-address: %w", err)
	}
	httpLis, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		_ = grpcLis.Close()
		return nil, fmt.Errorf("--http-address: %w", err)
	}
	return &daemon{
		flags:      f,
		grpc:       grpcSrv,
		http:       serve.NewHTTPServer(tracing.Handler(env.tracer, handler)),
		grpcLis:    grpcLis,
		httpLis:    httpLis,
		background: background,
	}, nil
}

// grpcServer builds the gRPC server from the flags, with opts, and calls
// register to add its services. Its calls are counted and timed under
// Thanos's names (grpc_server_started_total, grpc_server_handled_total,
// grpc_server_handling_seconds, by grpc_service, grpc_method and
// grpc_code), which Thanos's alerts and dashboards read.
func (f *serverFlags) grpcServer(env environment, register func(*grpc.Server), opts ...grpc.ServerOption) (*grpc.Server, error) {
	reg := env.reg
	tlsOpts, err := f.GRPCServerOptions()
	if err != nil {
		return nil, err
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(grpcBuckets)))
	if err := reg.Register(metrics); err != nil {
		return nil, fmt.Errorf("register gRPC server metrics: %w", err)
	}
	opts = append(append(tlsOpts, opts...),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: f.maxConnectionAge}),
		grpc.ChainUnaryInterceptor(metrics.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(metrics.StreamServerInterceptor()),
	)
	opts = append(opts, tracing.ServerOptions(env.tracer)...)
	srv := grpc.NewServer(opts...)
	register(srv)
	metrics.InitializeMetrics(srv)
	return srv, nil
}

// grpcBuckets are the latency buckets Thanos gives its gRPC histograms.
var grpcBuckets = []float64{0.001, 0.01, 0.1, 0.3, 0.6, 1, 3, 6, 9, 20, 30, 60, 90, 120, 240, 360, 720}
