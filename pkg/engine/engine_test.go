package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/promql-engine/logicalplan"
	thanosquery "github.com/thanos-io/promql-engine/query"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"

	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/queryapi/queryapitest"
	"github.com/tandem-metrics/tandem/pkg/remote"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// replicaData is one replica's series: a counter per instance, every 15 s
// for two hours, each replica missing scrapes the other has.
func replicaData(replica int) []storetest.Series {
	var out []storetest.Series
	for i := range 4 {
		var samples []storetest.Sample
		for n := range 480 {
			if (n+replica)%7 == 0 {
				continue
			}
			samples = append(samples, storetest.Sample{T: int64(n) * 15_000, V: float64(n * 15 * (i + 1))})
		}
		out = append(out, storetest.Series{Labels: labels.FromStrings("__name__", "requests_total", "instance", fmt.Sprintf("i%d", i)), Samples: samples})
	}
	return out
}

func pair(cluster string) []storetest.Options {
	return []storetest.Options{
		{ExternalLabels: labels.FromStrings("cluster", cluster, "replica", "a"), WithoutReplicaLabels: true},
		{ExternalLabels: labels.FromStrings("cluster", cluster, "replica", "b")},
	}
}

// leafEndpoint is a leaf as discovery knows it.
type leafEndpoint struct {
	*queryapitest.Leaf
	infos []infopb.TSDBInfo
}

func (l leafEndpoint) String() string                   { return l.Addr }
func (l leafEndpoint) QueryClient() querypb.QueryClient { return l.Client }
func (l leafEndpoint) TSDBInfos() []infopb.TSDBInfo     { return l.infos }

// startLeaf runs a query over one cluster's HA pair.
func startLeaf(t *testing.T, cluster string) leafEndpoint {
	t.Helper()
	l := leafEndpoint{Leaf: queryapitest.Start(t, queryapitest.Options{
		Stores: pair(cluster), PerStore: [][]storetest.Series{replicaData(0), replicaData(1)},
	})}
	info, err := l.Info.Info(context.Background(), &infopb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	l.infos = info.Store.TsdbInfos
	return l
}

func newEngines(t testing.TB, mode engine.Mode) *engine.Set {
	t.Helper()
	set, err := engine.New(engine.Options{EngineOpts: promql.EngineOpts{
		MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	}, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	return set
}

// flat is a queryable over every store of the leaves, as one query over
// all the sidecars reads them.
func flat(t *testing.T, leaves ...leafEndpoint) func(query.Options) storage.Queryable {
	var clients []store.Client
	for _, l := range leaves {
		for _, s := range l.Stores {
			clients = append(clients, s.Client(t))
		}
	}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	return func(opts query.Options) storage.Queryable { return query.NewQueryable(proxy, opts) }
}

var opts = query.Options{Dedup: true, ReplicaLabels: []string{"replica"}, PartialResponse: true}

func canonical(t *testing.T, res *promql.Result) []string {
	t.Helper()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var out []string
	switch v := res.Value.(type) {
	case promql.Matrix:
		for _, s := range v {
			out = append(out, s.String())
		}
	case promql.Vector:
		for _, s := range v {
			out = append(out, s.String())
		}
	default:
		t.Fatalf("value %T", v)
	}
	slices.Sort(out)
	return out
}

// TestDistributedAnswersAsFlat evaluates queries distributed over two leaf
// queries, one per cluster, and over a leaf and the other cluster's stores
// (which serve no Query API, so the root evaluates them as an engine of
// its own), and compares with the flat query over all four stores.
func TestDistributedAnswersAsFlat(t *testing.T) {
	c0, c1 := startLeaf(t, "c0"), startLeaf(t, "c1")
	distributed := newEngines(t, engine.Distributed).Default()
	local := newEngines(t, engine.Local).Default()
	all := flat(t, c0, c1)
	c1Stores := flat(t, c1)
	thanos, _ := newEngines(t, engine.Local).Get(engine.Thanos)

	remoteOpts := remote.Options{ReplicaLabels: opts.ReplicaLabels, Dedup: true, PartialResponse: true}
	topologies := map[string]storage.Queryable{
		"two leaves": engine.Queryable{Queryable: all(opts), Remote: remote.NewEndpoints([]remote.Endpoint{c0, c1}, nil, remoteOpts)},
		"a leaf and stores": engine.Queryable{Queryable: all(opts), Remote: remote.NewEndpoints([]remote.Endpoint{c0},
			&remote.Local{Engine: thanos, Queryable: c1Stores(opts), TSDBInfos: c1.infos}, remoteOpts)},
		"no remote engine": engine.Queryable{Queryable: all(opts), Remote: remote.NewEndpoints(nil, nil, remoteOpts)},
	}
	ctx := context.Background()
	start, end := time.Unix(0, 0), time.Unix(7200, 0)
	for _, qs := range []string{
		`sum(rate(requests_total[5m]))`, `sum by (cluster) (rate(requests_total[5m]))`, `count(requests_total)`,
		`max by (instance) (rate(requests_total[5m]))`, `topk(2, rate(requests_total[5m]))`, `avg(rate(requests_total[5m]))`,
		`quantile(0.5, rate(requests_total[5m]))`,
	} {
		want, err := local.NewRangeQuery(ctx, all(opts), nil, qs, start, end, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		wantAnswer := canonical(t, want.Exec(ctx))
		want.Close()
		if len(wantAnswer) == 0 {
			t.Fatalf("%s: the flat query answered nothing", qs)
		}
		for name, q := range topologies {
			t.Run(name+"/"+qs, func(t *testing.T) {
				qry, err := distributed.NewRangeQuery(ctx, q, nil, qs, start, end, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				defer qry.Close()
				if got := canonical(t, qry.Exec(ctx)); !slices.Equal(got, wantAnswer) {
					t.Errorf("distributed answer differs from the flat query's:\n got %.600q\nwant %.600q", got, wantAnswer)
				}
				if pushed := strings.Contains(qry.String(), "remote("); pushed != (name != "no remote engine") {
					t.Errorf("plan %s: pushed down %v", qry.String(), pushed)
				}
			})
		}
	}
}

// TestDistributedDeadLeaf checks that a leaf that does not answer is a
// warning naming it with partial response, and an error without.
func TestDistributedDeadLeaf(t *testing.T) {
	c0, c1 := startLeaf(t, "c0"), startLeaf(t, "c1")
	c1.Stop()
	distributed := newEngines(t, engine.Distributed).Default()
	all := flat(t, c0)
	ctx := context.Background()
	for _, partial := range []bool{true, false} {
		t.Run(fmt.Sprintf("partial response %v", partial), func(t *testing.T) {
			o := opts
			o.PartialResponse = partial
			q := engine.Queryable{Queryable: all(o), Remote: remote.NewEndpoints([]remote.Endpoint{c0, c1}, nil,
				remote.Options{ReplicaLabels: o.ReplicaLabels, Dedup: true, PartialResponse: partial})}
			qry, err := distributed.NewInstantQuery(ctx, q, nil, `sum by (cluster) (rate(requests_total[5m]))`, time.Unix(3600, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer qry.Close()
			res := qry.Exec(ctx)
			if !partial {
				if res.Err == nil || !strings.Contains(res.Err.Error(), c1.Addr) {
					t.Fatalf("error %v, want one naming the dead leaf %s", res.Err, c1.Addr)
				}
				return
			}
			got := canonical(t, res)
			if len(got) != 1 || !strings.Contains(got[0], `cluster="c0"`) {
				t.Errorf("answer %q, want c0's alone", got)
			}
			if w := fmt.Sprint(res.Warnings.AsErrors()); !strings.Contains(w, c1.Addr) {
				t.Errorf("warnings %s, want one naming the dead leaf %s", w, c1.Addr)
			}
		})
	}
}

// streamingProbe counts the selections made through what Streaming
// returned and the others.
type streamingProbe struct {
	storage.Queryable
	streamed, readAhead *atomic.Int64
}

func (p streamingProbe) Querier(mint, maxt int64) (storage.Querier, error) {
	p.readAhead.Add(1)
	return p.Queryable.Querier(mint, maxt)
}

func (p streamingProbe) Streaming() storage.Queryable {
	return countingQueryable{p.Queryable, p.streamed}
}

type countingQueryable struct {
	storage.Queryable
	n *atomic.Int64
}

func (c countingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	c.n.Add(1)
	return c.Queryable.Querier(mint, maxt)
}

// TestThanosEngineStreams checks that Thanos's engine reads its selections
// streamed, locally, from a plan and in distributed mode, and that
// Prometheus's engine, which evaluates series one by one, reads them ahead.
func TestThanosEngineStreams(t *testing.T) {
	c0 := startLeaf(t, "c0")
	all := flat(t, c0)
	local, distributed := newEngines(t, engine.Local), newEngines(t, engine.Distributed)
	thanosLocal, _ := local.Get(engine.Thanos)
	thanosDistributed, _ := distributed.Get(engine.Thanos)
	prometheus, _ := local.Get(engine.Prometheus)
	ctx := context.Background()
	const qs = `sum(rate(requests_total[5m]))`
	start, end := time.Unix(0, 0), time.Unix(7200, 0)
	expr, err := parser.ParseExpr(qs)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := logicalplan.NewFromAST(expr, &thanosquery.Options{Start: start, End: end, Step: time.Minute}, logicalplan.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := logicalplan.Marshal(plan.Root())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		engine   engine.Engine
		wrap     func(storage.Queryable) storage.Queryable
		fromPlan bool
		streamed bool
	}{
		{"thanos", thanosLocal, nil, false, true},
		{"thanos from a plan", thanosLocal, nil, true, true},
		{"thanos distributed, nothing to push down to", thanosDistributed, func(q storage.Queryable) storage.Queryable {
			return engine.Queryable{Queryable: q, Remote: remote.NewEndpoints(nil, nil, remote.Options{ReplicaLabels: opts.ReplicaLabels, Dedup: true})}
		}, false, true},
		{"prometheus", prometheus, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := streamingProbe{Queryable: all(opts), streamed: new(atomic.Int64), readAhead: new(atomic.Int64)}
			var q storage.Queryable = p
			if c.wrap != nil {
				q = c.wrap(q)
			}
			var (
				qry promql.Query
				err error
			)
			if c.fromPlan {
				qry, err = c.engine.NewRangeQueryFromPlan(ctx, q, nil, encoded, qs, start, end, time.Minute)
			} else {
				qry, err = c.engine.NewRangeQuery(ctx, q, nil, qs, start, end, time.Minute)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer qry.Close()
			if res := qry.Exec(ctx); res.Err != nil || len(canonical(t, res)) == 0 {
				t.Fatalf("answer %v, error %v", res.Value, res.Err)
			}
			streamed, ahead := p.streamed.Load(), p.readAhead.Load()
			if c.streamed && (streamed == 0 || ahead != 0) || !c.streamed && (streamed != 0 || ahead == 0) {
				t.Errorf("%d selections streamed, %d read ahead; want streamed: %v", streamed, ahead, c.streamed)
			}
		})
	}
}
