// Command sidecar serves one Prometheus replica's data over the Thanos Store
// API (gRPC), with the replica's external labels attached.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/pkg/reloader"
	_ "github.com/tandem-metrics/tandem/pkg/store" // the gogo-safe gRPC codec
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

type config struct {
	promURL           *url.URL
	grpcAddr          string
	httpAddr          string
	readyTimeout      time.Duration
	getConfigInterval time.Duration
	minTime           timeOrDuration
	grpcGrace         time.Duration
	httpGrace         time.Duration
	log               promslog.Config
	reloader          reloader.Options
	server            *serve.Config
}

func main() {
	app := kingpin.New(filepath.Base(os.Args[0]), "Serves a Prometheus replica over the Thanos Store API, with its external labels attached.")
	app.Version(version.Print("sidecar"))
	app.HelpFlag.Short('h')
	var cfg config
	app.Flag("prometheus.url", "URL of the Prometheus this sidecar serves.").
		Default("http://localhost:9090").URLVar(&cfg.promURL)
	app.Flag("grpc-address", "Listen host:port for the gRPC Store API.").
		Default("0.0.0.0:10901").StringVar(&cfg.grpcAddr)
	app.Flag("http-address", "Listen host:port for /metrics, /-/healthy and /-/ready.").
		Default("0.0.0.0:10902").StringVar(&cfg.httpAddr)
	app.Flag("prometheus.ready_timeout", "How long to wait at start for Prometheus to be usable before giving up.").
		Default("10m").DurationVar(&cfg.readyTimeout)
	app.Flag("prometheus.get_config_interval", "How often to re-read Prometheus's external labels and lowest timestamp.").
		Default("30s").DurationVar(&cfg.getConfigInterval)
	app.Flag("min-time", "Serve only data from this time on: RFC3339 or a duration relative to now (e.g. -2h). The later of this and Prometheus's oldest sample is advertised.").
		Default("0000-01-01T00:00:00Z").SetValue(&cfg.minTime)
	app.Flag("grpc-grace-period", "Time to let in-flight gRPC calls finish at shutdown.").
		Default("2m").DurationVar(&cfg.grpcGrace)
	app.Flag("http-grace-period", "Time to let in-flight HTTP requests finish at shutdown.").
		Default("2m").DurationVar(&cfg.httpGrace)
	// Accepted so that manifests written for Thanos's sidecar run unchanged;
	// this sidecar does not upload blocks.
	app.Flag("tsdb.path", "Accepted for compatibility; unused.").Hidden().String()
	app.Flag("reloader.config-file", "Config file watched by the reloader.").
		Default("").StringVar(&cfg.reloader.ConfigFile)
	app.Flag("reloader.config-envsubst-file", "Output file for the environment-variable-substituted config file; empty means Prometheus reads --reloader.config-file itself.").
		Default("").StringVar(&cfg.reloader.ConfigEnvsubstFile)
	app.Flag("reloader.rule-dir", "Rule directories for the reloader to refresh (repeated field).").
		StringsVar(&cfg.reloader.RuleDirs)
	app.Flag("reloader.watch-interval", "Controls how often the reloader re-reads config and rules; 0 renders the config once at start.").
		Default("3m").DurationVar(&cfg.reloader.WatchInterval)
	app.Flag("reloader.retry-interval", "Controls how often the reloader retries a config reload in case of error.").
		Default("5s").DurationVar(&cfg.reloader.RetryInterval)
	app.Flag("reloader.method", "Method used to reload the configuration; only http is supported.").
		Default("http").Enum("http")
	cfg.server = serve.AddFlags(app)
	cfg.log = promslog.Config{}
	promslogflag.AddFlags(app, &cfg.log)

	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sidecar: %v\n", err)
		os.Exit(2)
	}
	logger := promslog.New(&cfg.log)
	if err := runSidecar(cfg, logger); err != nil {
		if errors.As(err, new(startError)) {
			fmt.Fprintf(os.Stderr, "sidecar: %v\n", err)
			os.Exit(2)
		}
		logger.Error("sidecar stopped", "err", err)
		os.Exit(1)
	}
}

// startError is a flag or listener that keeps the sidecar from starting:
// reported as one line, not as a log record.
type startError struct{ error }

func (e startError) Unwrap() error { return e.error }

func runSidecar(cfg config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	client := promstore.NewClient(cfg.promURL, &http.Client{Transport: promstore.Transport()})
	target := promstore.NewTarget(client, logger, cfg.minTime.millis, 2*time.Second)
	store := promstore.NewStore(client, target, logger, promstore.NewMetrics(reg))

	cfg.reloader.PrometheusURL = cfg.promURL
	rl, err := reloader.New(cfg.reloader, logger.With("component", "reloader"), reg)
	if err != nil {
		return startError{fmt.Errorf("--reloader.*: %w", err)}
	}

	grpcOpts, err := cfg.server.GRPCServerOptions()
	if err != nil {
		return startError{err}
	}
	if err := cfg.server.ValidateHTTP(); err != nil {
		return startError{err}
	}

	grpcLis, err := net.Listen("tcp", cfg.grpcAddr)
	if err != nil {
		return startError{fmt.Errorf("--grpc-address: %w", err)}
	}
	httpLis, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return startError{fmt.Errorf("--http-address: %w", err)}
	}

	srv := grpc.NewServer(append(grpcOpts, grpc.MaxSendMsgSize(promstore.DefaultMaxFrameSize))...)
	storepb.RegisterStoreServer(srv, store)
	infopb.RegisterInfoServer(srv, target)
	healthpb.RegisterHealthServer(srv, health.NewServer())

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := target.Ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	serve.Pprof(mux)
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}

	var g run.Group
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(serve.SignalActor(ctx, logger))

	// Both servers stop accepting at once and drain side by side; the
	// external labels that Series calls in flight read and the reloader
	// stop only once both have drained.
	var draining serve.Draining
	serveGRPC, stopGRPC := draining.GRPC(srv, grpcLis, cfg.grpcGrace)
	g.Add(func() error {
		logger.Info("serving Store API", "address", grpcLis.Addr().String(), "prometheus", cfg.promURL.String())
		return serveGRPC()
	}, stopGRPC)
	g.Add(draining.HTTP(httpSrv, func() error { return cfg.server.ServeHTTP(httpSrv, httpLis, logger) }, cfg.httpGrace))
	stop := func(error) {
		draining.Wait()
		cancel()
	}

	g.Add(func() error {
		if err := target.WaitReady(ctx, cfg.readyTimeout); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("--prometheus.ready_timeout: %w", err)
		}
		return target.Run(ctx, cfg.getConfigInterval)
	}, stop)
	g.Add(func() error { return rl.Run(ctx) }, stop)
	return g.Run()
}
