package main

import (
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/thanos/pkg/info/infopb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/remote"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// engines builds the PromQL engines, and what a request reads: the stores
// and, in distributed mode, the remote engines. Those are the endpoints
// that serve the Query API, and the stores that do not, which this query
// evaluates as one engine more.
func (cfg *queryCmd) engines(env environment, endpoints *discovery.Set, proxy *store.Proxy) (*engine.Set, func(query.Options) storage.Queryable, error) {
	engines, err := engine.New(engine.Options{
		EngineOpts: promql.EngineOpts{
			Logger:                   env.logger.With("component", "engine"),
			Reg:                      env.reg,
			MaxSamples:               cfg.maxSamples,
			Timeout:                  cfg.timeout,
			LookbackDelta:            cfg.lookbackDelta,
			EnableAtModifier:         true,
			EnableNegativeOffset:     true,
			NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		},
		Default: engine.Name(cfg.engine),
		Mode:    engine.Mode(cfg.mode),
	})
	if err != nil {
		return nil, nil, err
	}
	local := func(opts query.Options) storage.Queryable { return query.NewQueryable(proxy, opts) }
	if cfg.mode != string(engine.Distributed) {
		return engines, local, nil
	}
	env.logger.Info("Distributed query mode: Thanos's engine pushes down to the endpoints that serve the Query API")
	thanos, err := engines.Get(engine.Thanos)
	if err != nil {
		return nil, nil, err
	}
	return engines, func(opts query.Options) storage.Queryable {
		var (
			queryAPIs  []remote.Endpoint
			storesOnly []store.Client
			infos      []infopb.TSDBInfo
		)
		for _, e := range endpoints.HealthyQueryAPIs() {
			queryAPIs = append(queryAPIs, e)
		}
		for _, e := range endpoints.HealthyStores() {
			if !e.ServesQueryAPI() {
				storesOnly = append(storesOnly, e)
				infos = append(infos, e.TSDBInfos()...)
			}
		}
		stores := store.NewProxy(func() []store.Client { return storesOnly }, store.ProxyOptions{ResponseTimeout: cfg.responseTimeout})
		return engine.Queryable{
			Queryable: local(opts),
			Remote: remote.NewEndpoints(queryAPIs, &remote.Local{Engine: thanos, Queryable: query.NewQueryable(stores, opts), TSDBInfos: infos}, remote.Options{
				ReplicaLabels:   opts.ReplicaLabels,
				Dedup:           opts.Dedup,
				PartialResponse: opts.PartialResponse,
				PartitionLabels: cfg.partitionLabels,
				StoreMatchers:   opts.StoreMatchers,
				MaxSamples:      cfg.maxSamples,
			}),
		}
	}, nil
}
