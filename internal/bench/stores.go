package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/tandem-metrics/tandem/internal/supervise"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// StoresResult is one query of a Tandem query over many Store API servers
// (HA pairs) that this process serves over loopback gRPC from TSDBs.
type StoresResult struct {
	Name   string `json:"name"`
	Expr   string `json:"expr"`
	Stores int    `json:"stores"`
	// SeriesPerStore is what the first pair holds; OthersSeries what each
	// other store holds.
	SeriesPerStore int     `json:"series_per_store"`
	OthersSeries   int     `json:"others_series_per_store"`
	ResultSeries   int     `json:"result_series"`
	Took           Latency `json:"took"`
	QueryPeakRSS   int64   `json:"query_peak_rss_bytes"`
	// PeakGoroutines is the most the query ran while it answered (its
	// go_goroutines, polled every 20 ms, so a short peak may be missed);
	// RestGoroutines is what it runs afterwards.
	PeakGoroutines int `json:"peak_goroutines"`
	RestGoroutines int `json:"rest_goroutines"`
}

// storesWindow is the range the stores rows are asked over.
var storesWindow = sixHours1m

// storesShapes are the queries over many stores: all of them, or one pair
// selected by its external label (no other store is asked) or by a label
// its series alone have (every store is asked, the others answer nothing).
var storesShapes = []Shape{
	{Name: "all stores", Expr: `sum by (cluster) (rate(bench_store_requests_total[5m]))`},
	{Name: "one pair, by external label", Expr: `sum(rate(bench_store_requests_total{cluster="c00"}[5m]))`},
	{Name: "one pair, by series label", Expr: `sum(rate(bench_store_requests_total{owner="c00"}[5m]))`},
}

// storesData is the TSDBs of one measurement: one for each replica of the
// first pair and one for each replica of the others.
type storesData struct {
	pair, others [2]*tsdb.DB
}

func (d *storesData) close() {
	for _, db := range append(d.pair[:], d.others[:]...) {
		if db != nil {
			_ = db.Close()
		}
	}
}

// storeSeries is one replica's counters over the dataset's length: n series
// whose scrapes the two replicas take at different moments.
func (m *measurer) storeSeries(owner string, n, replica int) []storetest.Series {
	d := m.cfg.Dataset
	iv := d.Interval.Milliseconds()
	first := d.End().Add(-storesWindow.Length - 10*time.Minute).UnixMilli()
	steps := int((storesWindow.Length + 10*time.Minute) / d.Interval)
	out := make([]storetest.Series, 0, n)
	for i := range n {
		samples := make([]storetest.Sample, 0, steps)
		for k := range steps {
			at := first + int64(k)*iv + int64(replica)*iv/3
			samples = append(samples, storetest.Sample{T: at, V: float64((at - first) / 1000 * int64(i%7+1))})
		}
		out = append(out, storetest.Series{
			Labels:  labels.FromStrings("__name__", "bench_store_requests_total", "owner", owner, "instance", fmt.Sprintf("i%d", i)),
			Samples: samples,
		})
	}
	return out
}

func (m *measurer) openStoresData(dir string, others int) (_ *storesData, err error) {
	d := &storesData{}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	for r := range replicaNames {
		if d.pair[r], err = storetest.NewTSDB(filepath.Join(dir, fmt.Sprintf("pair-%d", r)), m.storeSeries("c00", m.cfg.StoreSeries, r)...); err != nil {
			return nil, err
		}
		if d.others[r], err = storetest.NewTSDB(filepath.Join(dir, fmt.Sprintf("others-%d", r)), m.storeSeries("other", others, r)...); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// serveStores serves the data from Stores servers, HA pairs c00, c01, ...
func (m *measurer) serveStores(d *storesData) ([]*storetest.Server, error) {
	var servers []*storetest.Server
	for i := range m.cfg.Stores {
		pair, r := i/2, i%2
		db := d.others[r]
		if pair == 0 {
			db = d.pair[r]
		}
		s, err := storetest.NewServer(db, storetest.Options{
			ExternalLabels:       labels.FromStrings("cluster", fmt.Sprintf("c%02d", pair), "replica", replicaNames[r]),
			WithoutReplicaLabels: true,
		})
		if err != nil {
			for _, s := range servers {
				s.Stop()
			}
			return nil, err
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// stores measures a query over many stores: every shape with the others
// holding as many series as the first pair, and the one-pair shapes again
// with the others holding ten times as many.
func (m *measurer) stores(ctx context.Context) ([]StoresResult, error) {
	dir := filepath.Join(m.cfg.WorkDir, "stores")
	var results []StoresResult
	for _, factor := range []int{1, 10} {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		others := m.cfg.StoreSeries * factor
		data, err := m.openStoresData(dir, others)
		if err != nil {
			return nil, err
		}
		servers, err := m.serveStores(data)
		if err != nil {
			data.close()
			return nil, err
		}
		for _, shape := range storesShapes {
			if factor > 1 && shape.Name == "all stores" {
				continue
			}
			r, err := m.storesRow(ctx, servers, shape, others)
			if err != nil {
				err = fmt.Errorf("%s, others with %d series: %w", shape.Name, others, err)
			} else {
				fmt.Fprintf(m.out, "stores %d %-28s others %4d series: p50 %.3fs p90 %.3fs, query RSS %s, goroutines %d at peak, %d at rest, %d series\n",
					r.Stores, shape.Name, others, r.Took.Median, r.Took.P90, mib(r.QueryPeakRSS), r.PeakGoroutines, r.RestGoroutines, r.ResultSeries)
				results = append(results, r)
			}
			if err != nil {
				for _, s := range servers {
					s.Stop()
				}
				data.close()
				return nil, err
			}
		}
		for _, s := range servers {
			s.Stop()
		}
		data.close()
	}
	return results, nil
}

// storesRow starts a query over the servers and times shape.
func (m *measurer) storesRow(ctx context.Context, servers []*storetest.Server, shape Shape, others int) (StoresResult, error) {
	addrs, err := supervise.FreeAddrs(2)
	if err != nil {
		return StoresResult{}, err
	}
	args := []string{"query", "--grpc-address=" + addrs[0], "--http-address=" + addrs[1], "--log.level=warn", "--query.replica-label=replica"}
	for _, s := range servers {
		args = append(args, "--endpoint="+s.Addr())
	}
	q, err := startProcess("query-stores", m.stack.bins.Tandem, filepath.Join(m.cfg.WorkDir, "query-stores.log"), args...)
	if err != nil {
		return StoresResult{}, err
	}
	defer func() { _ = q.Stop(stopGrace) }()
	q.GRPC, q.HTTP = addrs[0], addrs[1]
	if err := waitQuery(ctx, q, len(servers)); err != nil {
		return StoresResult{}, err
	}
	base := "http://" + q.HTTP
	rq := m.request(Row{shape, storesWindow})
	if _, err := rq.run(ctx, m.client, base); err != nil { // warm-up
		return StoresResult{}, err
	}
	peak, stopPolling := pollGoroutines(ctx, base)
	var (
		took []time.Duration
		last answer
	)
	for range m.cfg.Runs {
		if last, err = rq.run(ctx, m.client, base); err != nil {
			stopPolling()
			return StoresResult{}, err
		}
		took = append(took, last.took)
	}
	stopPolling()
	rest, err := scrapeCounter(base+"/metrics", "go_goroutines")
	if err != nil {
		return StoresResult{}, err
	}
	r := StoresResult{
		Name: shape.Name, Expr: shape.Expr, Stores: len(servers), SeriesPerStore: m.cfg.StoreSeries, OthersSeries: others,
		ResultSeries: last.series, Took: summarise(took), PeakGoroutines: max(*peak, int(rest)), RestGoroutines: int(rest),
	}
	r.QueryPeakRSS, err = q.PeakRSS()
	return r, err
}

// pollGoroutines reads the query's go_goroutines every 20 ms until stop is
// called, keeping the largest in *peak.
func pollGoroutines(ctx context.Context, base string) (peak *int, stop func()) {
	peak = new(int)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		client := &http.Client{Timeout: time.Second}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if v, err := scrapeCounterWith(client, base+"/metrics", "go_goroutines"); err == nil {
				*peak = max(*peak, int(v))
			}
		}
	})
	return peak, func() { cancel(); wg.Wait() }
}
