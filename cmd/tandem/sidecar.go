package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/internal/tracing"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/reloader"
	_ "github.com/tandem-metrics/tandem/pkg/store" // the gogo-safe gRPC codec
	"github.com/tandem-metrics/tandem/pkg/store/blocks"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// sidecarCmd is `tandem sidecar`: it serves one Prometheus replica's data over
// the Thanos Store API, with the replica's external labels attached.
type sidecarCmd struct {
	server            *serverFlags
	promURL           *url.URL
	readyTimeout      time.Duration
	getConfigInterval time.Duration
	getConfigTimeout  time.Duration
	httpClient        *pathOrContent
	minTime           timeOrDuration
	reloader          reloader.Options
	shipper           shipperFlags
	readBlocks        bool
}

func registerSidecar(cmd *kingpin.CmdClause) *sidecarCmd {
	s := &sidecarCmd{}
	s.server = registerServerFlags(cmd, "Listen host:port for the gRPC Store API.")
	cmd.Flag("prometheus.url", "URL of the Prometheus this sidecar serves.").
		Default("http://localhost:9090").URLVar(&s.promURL)
	cmd.Flag("prometheus.ready_timeout", "How long to wait at start for Prometheus to be usable before giving up.").
		Default("10m").DurationVar(&s.readyTimeout)
	cmd.Flag("prometheus.get_config_interval", "How often to re-read Prometheus's external labels and lowest timestamp.").
		Default("30s").DurationVar(&s.getConfigInterval)
	cmd.Flag("prometheus.get_config_timeout", "Timeout of each read of Prometheus's config, lowest timestamp and readiness.").
		Default("30s").DurationVar(&s.getConfigTimeout)
	s.httpClient = registerPathOrContent(cmd, "prometheus.http-client",
		"YAML with the HTTP client config towards Prometheus, in Thanos's format: tls_config, basic_auth, bearer_token(_file), proxy_url, transport_config.", false)
	cmd.Flag("min-time", "Serve only data from this time on: RFC3339 or a duration relative to now (e.g. -2h). The later of this and Prometheus's oldest sample is advertised.").
		Default("0000-01-01T00:00:00Z").SetValue(&s.minTime)
	s.shipper.registerTSDBPath(cmd)
	cmd.Flag("tsdb.read-blocks", "Read the blocks Prometheus has persisted straight from --tsdb.path, and only its head through remote read. Blocks it cannot find there are read through remote read.").
		Default("true").BoolVar(&s.readBlocks)
	s.shipper.register(cmd)
	cmd.Flag("reloader.config-file", "Config file watched by the reloader.").
		Default("").StringVar(&s.reloader.ConfigFile)
	cmd.Flag("reloader.config-envsubst-file", "Output file for the environment-variable-substituted config file; empty means Prometheus reads --reloader.config-file itself.").
		Default("").StringVar(&s.reloader.ConfigEnvsubstFile)
	cmd.Flag("reloader.rule-dir", "Rule directories for the reloader to refresh (repeated field).").
		StringsVar(&s.reloader.RuleDirs)
	cmd.Flag("reloader.watch-interval", "Controls how often the reloader re-reads config and rules; 0 renders the config once at start.").
		Default("3m").DurationVar(&s.reloader.WatchInterval)
	cmd.Flag("reloader.retry-interval", "Controls how often the reloader retries a config reload in case of error.").
		Default("5s").DurationVar(&s.reloader.RetryInterval)
	cmd.Flag("reloader.method", "Method used to reload the configuration; only http is supported.").
		Default("http").Enum("http")
	cmd.Flag("reloader.process-name", "Accepted for Thanos's manifests; used only by the signal method, which is not supported.").
		Default("prometheus").String()
	return s
}

func (s *sidecarCmd) build(env environment) (*daemon, error) {
	logger := env.logger
	httpClient, err := s.prometheusClient()
	if err != nil {
		return nil, err
	}
	// Remote reads and label calls become spans of the Store API call
	// that made them, and Prometheus continues the trace.
	httpClient.Transport = tracing.Transport(env.tracer, httpClient.Transport)
	client := promstore.NewClient(s.promURL, httpClient)
	target := promstore.NewTarget(client, logger, promstore.TargetOptions{
		MinTime: s.minTime.millis,
		MaxAge:  2 * time.Second,
		Timeout: s.getConfigTimeout,
		Blocks:  s.readBlocks,
	})
	var dir *blocks.Dir
	if s.readBlocks {
		dir = blocks.NewDir(s.shipper.tsdbPath)
		logger.Info("Reading persisted blocks from the data directory", "tsdb_path", s.shipper.tsdbPath)
	}
	store := promstore.NewStore(client, target, dir, logger, promstore.NewMetrics(env.reg))
	apis := promstore.NewAPIs(client, target)

	s.reloader.PrometheusURL = s.promURL
	rl, err := reloader.New(s.reloader, logger.With("component", "reloader"), env.reg)
	if err != nil {
		return nil, fmt.Errorf("--reloader.*: %w", err)
	}

	ship, err := s.shipper.build(env, client, target)
	if err != nil {
		return nil, err
	}

	srv, err := s.server.grpcServer(env, func(srv *grpc.Server) {
		storepb.RegisterStoreServer(srv, store)
		infopb.RegisterInfoServer(srv, apis)
		fanout.Register(srv, apis)
		healthpb.RegisterHealthServer(srv, promstore.NewHealth(target))
	}, grpc.MaxSendMsgSize(promstore.DefaultMaxFrameSize))
	if err != nil {
		return nil, err
	}
	promstore.RegisterUp(env.reg, target)

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(env.reg, promhttp.HandlerOpts{Registry: env.reg}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "OK")
	})
	mux.Handle("/-/ready", target.ReadyHandler())
	serve.Pprof(mux)

	logger.Info("Serving Prometheus", "prometheus", s.promURL.String())
	waitThenRefresh := func(ctx context.Context) error {
		if err := target.WaitReady(ctx, s.readyTimeout); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("--prometheus.ready_timeout: %w", err)
		}
		return target.Run(ctx, s.getConfigInterval)
	}
	background := []func(context.Context) error{waitThenRefresh, rl.Run}
	if ship != nil {
		background = append(background, ship)
	}
	return s.server.newDaemon(env, srv, mux, background...)
}

// prometheusClient is the HTTP client towards Prometheus, from
// --prometheus.http-client(-file) and --prometheus.get_config_timeout.
func (s *sidecarCmd) prometheusClient() (*http.Client, error) {
	b, err := s.httpClient.read()
	if err != nil {
		return nil, err
	}
	cfg, err := promstore.ParseHTTPClientConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.httpClient.flag(), err)
	}
	hc, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.httpClient.flag(), err)
	}
	return promstore.WithConfigTimeout(hc, s.getConfigTimeout), nil
}
