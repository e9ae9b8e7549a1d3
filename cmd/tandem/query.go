package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/internal/tracing"
	"github.com/tandem-metrics/tandem/pkg/api"
	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/queryapi"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/ui"
)

// maxMessageSize bounds one Store API message either way. A store's frame
// holds at most a batch of series, far below it; a larger one is a broken or
// hostile store, and failing that call keeps the process's memory bounded.
const maxMessageSize = 64 << 20

// build checks the flags, builds the components and opens the listeners.
func (cfg *queryCmd) build(env environment) (*daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger, reg := env.logger, env.reg
	logger.Info("Go garbage collection target", "GOGC", setGCPercent(queryGCPercent, os.LookupEnv))
	clientCreds, err := cfg.clientTLS.Credentials()
	if err != nil {
		return nil, err
	}

	// The calls to the stores, counted and timed under Thanos's names
	// (grpc_client_started_total, grpc_client_handled_total, ...).
	clientMetrics := grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(grpcprom.WithHistogramBuckets(grpcBuckets)))
	if err := reg.Register(clientMetrics); err != nil {
		return nil, fmt.Errorf("register gRPC client metrics: %w", err)
	}
	endpoints, err := discovery.NewSet(discovery.Options{
		Endpoints:        cfg.endpoints,
		FileSDFiles:      cfg.sdFiles,
		FileSDInterval:   cfg.sdInterval,
		DNSInterval:      cfg.sdDNSInterval,
		DNSResolver:      cfg.dnsResolver,
		ResolvConf:       cfg.resolvConf,
		InfoTimeout:      cfg.infoTimeout,
		UnhealthyTimeout: cfg.unhealthy,
		CloseGrace:       cfg.timeout,
		DialOptions: append([]grpc.DialOption{
			grpc.WithTransportCredentials(clientCreds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)),
			grpc.WithDefaultCallOptions(compressionOptions(cfg.grpcCompression)...),
			grpc.WithChainUnaryInterceptor(clientMetrics.UnaryClientInterceptor()),
			grpc.WithChainStreamInterceptor(clientMetrics.StreamClientInterceptor()),
		}, tracing.DialOptions(env.tracer)...),
	}, logger.With("component", "discovery"), reg)
	if err != nil {
		return nil, err
	}
	healthy := func() []store.Client {
		eps := endpoints.HealthyStores()
		out := make([]store.Client, len(eps))
		for i, e := range eps {
			out[i] = e
		}
		return out
	}
	proxy := store.NewProxy(healthy, store.ProxyOptions{ResponseTimeout: cfg.responseTimeout})
	sources := fanout.New(func(api discovery.API) []fanout.Endpoint {
		eps := endpoints.Offering(api)
		out := make([]fanout.Endpoint, len(eps))
		for i, e := range eps {
			out[i] = e
		}
		return out
	}, fanout.Options{ResponseTimeout: cfg.responseTimeout})

	engines, queryable, err := cfg.engines(env, endpoints, proxy)
	if err != nil {
		return nil, err
	}
	defaults := query.Options{
		Dedup:           true,
		ReplicaLabels:   cfg.replicaLabels,
		PartialResponse: cfg.partialResponse,
		MaxSeries:       cfg.maxSeries,
		MaxSamples:      cfg.requestSamples,
		// Per query: each request's Queryable has its own gate.
		MaxConcurrentSelects: cfg.maxSelects,
		TwoPhaseSpan:         cfg.twoPhaseSpan,
	}
	apiHandler := api.New(api.Options{
		Engine:                 engines.Default(),
		Queryable:              queryable,
		Defaults:               defaults,
		Sources:                sources,
		SourcesPartialResponse: cfg.sourcesPartial,
		Timeout:                cfg.timeout,
		MaxConcurrent:          cfg.maxConcurrent,
		Ready:                  endpoints.Ready,
		RoutePrefix:            cfg.prefix(),
		Flags:                  env.flags,
		Gatherer:               reg,
		Registerer:             reg,
		Logger:                 logger.With("component", "api"),
	}).Handler()
	mux := http.NewServeMux()
	mux.Handle("GET "+cfg.prefix()+"/api/v1/stores", endpoints.StoresHandler())
	// The API's routes are more specific than the UI's catch-all, so they
	// keep priority; the UI answers the rest (and 404 for what it lacks).
	for _, p := range []string{"/api/", "/-/", "/metrics"} {
		mux.Handle(cfg.prefix()+p, apiHandler)
	}
	mux.Handle("/", ui.Handler(cfg.prefix(), cfg.externalPrefix))
	serve.Pprof(mux)

	proxyServer := store.NewProxyServer(proxy, store.ServerLimits{MaxSeries: int64(cfg.maxSeries), MaxSamples: int64(cfg.requestSamples)})
	queryServer := queryapi.New(queryapi.Options{
		Engines:       engines,
		Queryable:     queryable,
		Defaults:      defaults,
		Timeout:       cfg.timeout,
		MaxConcurrent: cfg.maxConcurrent,
		Logger:        logger.With("component", "query-api"),
	})
	grpcSrv, err := cfg.server.grpcServer(env, func(srv *grpc.Server) {
		storepb.RegisterStoreServer(srv, proxyServer)
		querypb.RegisterQueryServer(srv, queryServer)
		infopb.RegisterInfoServer(srv, queryapi.AnnounceIn(proxyServer))
		fanout.Register(srv, sources)
	}, grpc.MaxSendMsgSize(maxMessageSize))
	if err != nil {
		return nil, err
	}

	// The engine and discovery, whose end closes the stores' connections
	// that the calls in flight still read from, stop only once both servers
	// have drained.
	return cfg.server.newDaemon(env, grpcSrv, mux, endpoints.Run, func(ctx context.Context) error {
		<-ctx.Done()
		if err := engines.Close(); err != nil {
			logger.Warn("Closing the query engine", "err", err)
		}
		return nil
	})
}

// compressionOptions are the call options of --grpc-compression. The
// compressor is registered by pkg/store; "none" sends plain messages.
func compressionOptions(name string) []grpc.CallOption {
	if name == "" || name == "none" {
		return nil
	}
	return []grpc.CallOption{grpc.UseCompressor(name)}
}
