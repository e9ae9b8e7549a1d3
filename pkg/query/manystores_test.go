package query_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// manyStoresSeries is one replica's counters: n series every 15 s for two
// hours, replica 0 and 1 each missing every seventh scrape at its own
// phase, never one the other misses; replica -1 misses none.
func manyStoresSeries(owner string, n, replica int) []storetest.Series {
	var out []storetest.Series
	for i := range n {
		var samples []storetest.Sample
		for k := range 480 {
			if replica >= 0 && (k+replica*3)%7 == 0 {
				continue
			}
			samples = append(samples, storetest.Sample{T: int64(k) * 15_000, V: float64(k * (i + 1))})
		}
		out = append(out, storetest.Series{
			Labels:  labels.FromStrings("__name__", "many_total", "owner", owner, "i", fmt.Sprint(i)),
			Samples: samples,
		})
	}
	return out
}

// manyStores serves pairs HA pairs of stores (cluster c00, c01, ...;
// replica a, b): pair 0 holds series counters, the others others each.
// It returns the clients, the count of Series calls each store served, and
// a TSDB with what one store per cluster would hold, without replicas, for
// the answers to compare with.
func manyStores(tb testing.TB, pairs, series, others int) ([]store.Client, []*atomic.Int64, storage.Queryable) {
	tb.Helper()
	dbs := [2][2]storetest.Storage{}
	for r := range 2 {
		dbs[0][r] = storetest.OpenTSDB(tb, manyStoresSeries("c00", series, r)...)
		dbs[1][r] = storetest.OpenTSDB(tb, manyStoresSeries("other", others, r)...)
	}
	var (
		clients []store.Client
		calls   []*atomic.Int64
		flat    []storetest.Series
	)
	for p := range pairs {
		cluster := fmt.Sprintf("c%02d", p)
		kind, owner, n := 1, "other", others
		if p == 0 {
			kind, owner, n = 0, "c00", series
		}
		for r, replica := range []string{"a", "b"} {
			n := new(atomic.Int64)
			srv := storetest.Start(tb, dbs[kind][r], storetest.Options{
				ExternalLabels:       labels.FromStrings("cluster", cluster, "replica", replica),
				WithoutReplicaLabels: r == 0,
				BeforeSeries:         func(context.Context, *storepb.SeriesRequest) error { n.Add(1); return nil },
			})
			clients, calls = append(clients, srv.Client(tb)), append(calls, n)
		}
		// The flat data: the samples either replica has, once.
		for _, s := range manyStoresSeries(owner, n, -1) {
			s.Labels = labels.NewBuilder(s.Labels).Set("cluster", cluster).Labels()
			flat = append(flat, s)
		}
	}
	return clients, calls, storetest.OpenTSDB(tb, flat...)
}

func manyStoresEngine(tb testing.TB) *promql.Engine {
	e := promql.NewEngine(promql.EngineOpts{MaxSamples: 100_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	tb.Cleanup(func() { _ = e.Close() })
	return e
}

// TestManyStores puts 64 real Store API servers (32 HA pairs, each replica
// missing scrapes the other has) under one query: every answer equals the
// flat data's, selecting one cluster asks its two stores alone, and once
// the queries are done none of the goroutines of 64 store calls is left.
func TestManyStores(t *testing.T) {
	clients, calls, flat := manyStores(t, 32, 20, 20)
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	engine := manyStoresEngine(t)
	ctx := context.Background()
	opts := query.Options{Dedup: true, ReplicaLabels: []string{"replica"}, PartialResponse: true}
	baseline := -1
	for _, qs := range []string{
		`sum by (cluster) (rate(many_total[5m]))`,
		`count by (cluster) (many_total)`,
		`sum(rate(many_total{cluster="c07"}[5m]))`,
		`max(many_total{owner="c00"})`,
	} {
		got, err := engine.NewRangeQuery(ctx, query.NewQueryable(proxy, opts), nil, qs, time.Unix(600, 0), time.Unix(7200, 0), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want, err := engine.NewRangeQuery(ctx, flat, nil, qs, time.Unix(600, 0), time.Unix(7200, 0), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		g, w := got.Exec(ctx), want.Exec(ctx)
		if g.Err != nil || w.Err != nil {
			t.Fatalf("%s: %v, flat: %v", qs, g.Err, w.Err)
		}
		if g.Value.String() != w.Value.String() || len(w.Value.(promql.Matrix)) == 0 {
			t.Errorf("%s: answer differs from the flat data's:\n got %.400s\nwant %.400s", qs, g.Value, w.Value)
		}
		got.Close()
		want.Close()
		if baseline < 0 {
			// The connections to the stores are open now.
			baseline = runtime.NumGoroutine()
		}
	}
	// A selection of one cluster asks its two stores alone.
	before := make([]int64, len(calls))
	for i, n := range calls {
		before[i] = n.Load()
	}
	q, err := engine.NewInstantQuery(ctx, query.NewQueryable(proxy, opts), nil, `many_total{cluster="c07"}`, time.Unix(3600, 0))
	if err != nil {
		t.Fatal(err)
	}
	if res := q.Exec(ctx); res.Err != nil || len(res.Value.(promql.Vector)) != 20 {
		t.Fatalf("one cluster: %v, %v", res.Err, res.Value)
	}
	q.Close()
	var asked []string
	for i, n := range calls {
		if n.Load() != before[i] {
			asked = append(asked, clients[i].String())
		}
	}
	if want := []string{clients[14].String(), clients[15].String()}; !slices.Equal(asked, want) {
		t.Errorf("a selection of cluster c07 asked %q, want its two stores %q", asked, want)
	}
	wait.Until(t, 10*time.Second, "goroutines of the store calls to end", func() error {
		if n := runtime.NumGoroutine(); n > baseline+4 {
			return fmt.Errorf("%d goroutines, %d before the queries", n, baseline)
		}
		return nil
	})
}

// BenchmarkManyStores queries 64 stores (32 HA pairs) over loopback gRPC:
// all of them, or one pair, selected by its external label (the others are
// not asked) or by a label of its series (every store is asked, the others
// answer nothing). The cost of one pair's query must not grow with the
// series the others hold: compare others=20 with others=200. It reports
// the most goroutines the queries ran at once beside the stores' own.
func BenchmarkManyStores(b *testing.B) {
	for _, others := range []int{20, 200} {
		clients, _, _ := manyStores(b, 32, 20, others)
		proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
		engine := manyStoresEngine(b)
		opts := query.Options{Dedup: true, ReplicaLabels: []string{"replica"}, PartialResponse: true}
		for _, bc := range []struct{ name, query string }{
			{"all", `sum by (cluster) (rate(many_total[5m]))`},
			{"one pair by external label", `sum(rate(many_total{cluster="c00"}[5m]))`},
			{"one pair by series label", `sum(rate(many_total{owner="c00"}[5m]))`},
		} {
			b.Run(fmt.Sprintf("%s/others=%d", bc.name, others), func(b *testing.B) {
				ctx := context.Background()
				stop := make(chan struct{})
				peak := make(chan int)
				before := runtime.NumGoroutine()
				go func() {
					most := before
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							peak <- most
							return
						case <-tick.C:
							most = max(most, runtime.NumGoroutine())
						}
					}
				}()
				b.ReportAllocs()
				for b.Loop() {
					q, err := engine.NewRangeQuery(ctx, query.NewQueryable(proxy, opts), nil, bc.query, time.Unix(600, 0), time.Unix(7200, 0), time.Minute)
					if err != nil {
						b.Fatal(err)
					}
					if res := q.Exec(ctx); res.Err != nil || len(res.Value.(promql.Matrix)) == 0 {
						b.Fatalf("%v %v", res.Err, res.Value)
					}
					q.Close()
				}
				close(stop)
				// The stores' servers run in this process too: count what
				// the queries add.
				b.ReportMetric(float64(<-peak-before), "query-goroutines")
			})
		}
	}
}
