// Package serve is how both binaries run their servers: the flags that
// secure them, with Thanos's names (gRPC TLS and mutual TLS, and the
// Prometheus web config file for HTTP TLS and basic auth), serving HTTP with
// that config, and stopping gRPC gracefully.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// Config is the parsed flags.
type Config struct {
	GRPCTLS       store.ServerTLS
	WebConfigFile string
}

// FlagClause is where flags are declared: a kingpin application or one of
// its commands.
type FlagClause interface {
	Flag(name, help string) *kingpin.FlagClause
}

// AddFlags declares the flags on app.
func AddFlags(app FlagClause) *Config {
	c := &Config{}
	app.Flag("grpc-server-tls-cert", "TLS certificate for the gRPC server; empty serves plaintext.").
		Default("").StringVar(&c.GRPCTLS.CertFile)
	app.Flag("grpc-server-tls-key", "TLS key for the gRPC server.").
		Default("").StringVar(&c.GRPCTLS.KeyFile)
	app.Flag("grpc-server-tls-client-ca", "CA to verify gRPC clients' certificates against; set, it requires them (mutual TLS).").
		Default("").StringVar(&c.GRPCTLS.ClientCAFile)
	app.Flag("grpc-server-tls-min-version", "Lowest TLS version the gRPC server accepts: 1.0, 1.1, 1.2 or 1.3.").
		Default("1.3").StringVar(&c.GRPCTLS.MinVersion)
	app.Flag("http.config", "Prometheus web config file for the HTTP server: TLS, client certificates, basic auth.").
		Default("").StringVar(&c.WebConfigFile)
	return c
}

// GRPCServerOptions checks the gRPC TLS flags and returns the server's
// options, reading the certificates once so a bad one stops the start.
func (c *Config) GRPCServerOptions() ([]grpc.ServerOption, error) {
	creds, err := c.GRPCTLS.Credentials()
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(creds)}, nil
}

// ValidateHTTP checks the web config file, so that a bad one stops the
// process at start rather than at its first request.
func (c *Config) ValidateHTTP() error {
	if c.WebConfigFile == "" {
		return nil
	}
	if err := web.Validate(c.WebConfigFile); err != nil {
		return fmt.Errorf("--http.config: %w", err)
	}
	return nil
}

// ServeHTTP serves srv on lis with the web config applied; it returns
// http.ErrServerClosed after a shutdown, like http.Server.Serve.
func (c *Config) ServeHTTP(srv *http.Server, lis net.Listener, logger *slog.Logger) error {
	file := c.WebConfigFile
	return web.Serve(lis, srv, &web.FlagConfig{WebConfigFile: &file}, logger)
}

// StopGRPC lets the calls in flight finish, for at most grace, then ends
// the ones left.
func StopGRPC(srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		srv.Stop()
	}
}

// SignalActor is an oklog/run actor that ends the group on SIGINT or
// SIGTERM, logging which, or when ctx ends. Either way it returns nil: a
// requested stop is not a failure, and the process exits 0.
func SignalActor(ctx context.Context, logger *slog.Logger) (execute func() error, interrupt func(error)) {
	ctx, cancel := context.WithCancel(ctx)
	return func() error {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sig)
		select {
		case s := <-sig:
			logger.Info("Received signal, shutting down", "signal", s.String())
		case <-ctx.Done():
		}
		return nil
	}, func(error) { cancel() }
}

// Pprof serves Go's profiles under /debug/pprof/, where Prometheus and
// Thanos serve theirs, for `go tool pprof`.
func Pprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// How long a client may take to send a request's headers, and keep a
// connection open between requests: without them a client that connects
// and sends nothing holds its connection and goroutine forever.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// NewHTTPServer returns the HTTP server both subcommands serve h with.
func NewHTTPServer(h http.Handler) *http.Server {
	return newHTTPServer(h, readHeaderTimeout, idleTimeout)
}

func newHTTPServer(h http.Handler, readHeader, idle time.Duration) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeader, IdleTimeout: idle}
}
