// Package queryapitest runs a query's Query API (and Store and Info APIs)
// on loopback gRPC over real Store API servers with TSDB data, as a leaf
// of the tests of distributed execution.
package queryapitest

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/queryapi"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// Options describe a leaf: its stores, their data and its limits.
type Options struct {
	Stores []storetest.Options
	// Series is every store's data, unless PerStore gives each its own.
	Series   []storetest.Series
	PerStore [][]storetest.Series
	// Engine is the leaf's default engine; Prometheus's when empty.
	Engine        engine.Name
	MaxConcurrent int
	Timeout       time.Duration // a minute when zero
	MaxSamples    int           // 50M when zero
	MaxSeries     int
	ReplicaLabels []string // replica when nil
	TwoPhaseSpan  time.Duration
}

// Leaf is a running leaf.
type Leaf struct {
	Addr    string
	Client  querypb.QueryClient
	Info    infopb.InfoClient
	Stores  []*storetest.Server
	Engines *engine.Set
	// Queryable is what the leaf's queries read, for answers to compare
	// with.
	Queryable func(query.Options) storage.Queryable
	Defaults  query.Options
	// Stop ends the leaf's server at once.
	Stop func()
}

// Start runs a leaf until the test ends.
func Start(t testing.TB, o Options) *Leaf {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	if o.MaxSamples == 0 {
		o.MaxSamples = 50_000_000
	}
	if o.ReplicaLabels == nil {
		o.ReplicaLabels = []string{"replica"}
	}
	l := &Leaf{}
	var clients []store.Client
	for i, so := range o.Stores {
		data := o.Series
		if o.PerStore != nil {
			data = o.PerStore[i]
		}
		srv := storetest.Start(t, storetest.OpenTSDB(t, data...), so)
		l.Stores = append(l.Stores, srv)
		clients = append(clients, srv.Client(t))
	}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	engines, err := engine.New(engine.Options{EngineOpts: promql.EngineOpts{
		MaxSamples:               o.MaxSamples,
		Timeout:                  o.Timeout,
		LookbackDelta:            5 * time.Minute,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	}, Default: o.Engine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engines.Close() })
	l.Engines = engines
	l.Queryable = func(opts query.Options) storage.Queryable { return query.NewQueryable(proxy, opts) }
	l.Defaults = query.Options{Dedup: true, ReplicaLabels: o.ReplicaLabels, PartialResponse: true, MaxSeries: o.MaxSeries, TwoPhaseSpan: o.TwoPhaseSpan}

	srv := grpc.NewServer()
	proxyServer := store.NewProxyServer(proxy, store.ServerLimits{})
	storepb.RegisterStoreServer(srv, proxyServer)
	infopb.RegisterInfoServer(srv, queryapi.AnnounceIn(proxyServer))
	querypb.RegisterQueryServer(srv, queryapi.New(queryapi.Options{
		Engines:       engines,
		Queryable:     l.Queryable,
		Defaults:      l.Defaults,
		Timeout:       o.Timeout,
		MaxConcurrent: o.MaxConcurrent,
	}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	l.Addr, l.Stop = lis.Addr().String(), srv.Stop

	cc, err := grpc.NewClient(l.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	l.Client, l.Info = querypb.NewQueryClient(cc), infopb.NewInfoClient(cc)
	return l
}
