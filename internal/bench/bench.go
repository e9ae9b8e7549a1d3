// Package bench measures Tandem end to end: two real Prometheus replicas
// serving a day of generated history, a sidecar each and a query over both,
// all as separate processes on loopback. It times dashboard-like range
// queries against the same queries asked of one Prometheus directly, takes
// the peak memory of every Tandem process per query, the sidecar's
// throughput, and relates them to the Go micro-benchmarks.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// Config is what one run measures and where it keeps its files.
type Config struct {
	// BinDir holds prometheus, tandem and thanos.
	BinDir string
	// CacheDir keeps generated data between runs, one directory per
	// dataset.
	CacheDir string
	// WorkDir receives configurations, logs and profiles.
	WorkDir string
	Dataset Dataset
	// Runs is how many timed runs each query gets, after one warm-up.
	Runs int
	// Compressions are the --grpc-compression values the query runs with;
	// the sidecar is measured with and without snappy whatever they are.
	Compressions []string
	// Engines are the --query.promql-engine values the query runs with.
	Engines []string
	// QueryArgs are more flags for Tandem's query over the two sidecars,
	// to compare settings (--query.two-phase-select-span=0).
	QueryArgs []string
	// Rows, if set, selects the rows to measure by their name, e.g.
	// "sum by code rate, 6h / 15s".
	Rows *regexp.Regexp
	// MicroResults, if set, is the output of `go test -bench` to read the
	// micro-benchmarks from.
	MicroResults string
	// Profile, if set, takes CPU profiles of the query, a sidecar and its
	// Prometheus, and the query's allocation profile, for this long while
	// the query answers the shape furthest behind Prometheus again.
	Profile time.Duration
	// Thanos, if set, also measures every shape through Thanos's sidecars
	// and query (bin/thanos), the stack Tandem replaces.
	Thanos bool
	// Clusters, if positive, also measures a root query over one leaf query
	// per cluster, each cluster an HA pair serving ClusterSeries counters
	// over the dataset's length, in local and in distributed mode.
	Clusters, ClusterSeries int
	// Stores, if positive, also measures a query over this many Store API
	// servers (HA pairs) served by the benchmark itself, the first pair
	// holding StoreSeries counters, the others as many and ten times as
	// many.
	Stores, StoreSeries int
	// Command is how the run was started, for the record.
	Command string
}

func (c Config) validate() error {
	if c.Runs < 1 {
		return fmt.Errorf("runs: need at least 1, got %d", c.Runs)
	}
	if len(c.Compressions) == 0 {
		return errors.New("no gRPC compression to measure")
	}
	for _, comp := range c.Compressions {
		if comp != "none" && comp != "snappy" {
			return fmt.Errorf("gRPC compression %q: want none or snappy", comp)
		}
	}
	if len(c.Engines) == 0 {
		return errors.New("no PromQL engine to measure")
	}
	for _, e := range c.Engines {
		if e != "prometheus" && e != "thanos" {
			return fmt.Errorf("PromQL engine %q: want prometheus or thanos", e)
		}
	}
	if c.Clusters > 0 {
		if err := (Dataset{Series: c.ClusterSeries, Length: c.Dataset.Length, Interval: c.Dataset.Interval}).validate(); err != nil {
			return fmt.Errorf("cluster %w", err)
		}
	}
	if c.Stores > 0 && (c.Stores%2 != 0 || c.StoreSeries < 1) {
		return fmt.Errorf("stores: want an even number of stores with at least one series, got %d with %d", c.Stores, c.StoreSeries)
	}
	return c.Dataset.validate()
}

// Run measures everything, writing progress to out, and returns the
// results.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Results, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	bins, err := findBinaries(cfg.BinDir, cfg.Thanos)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	res := &Results{
		Command: cfg.Command,
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH},
	}
	dirs, info, err := ensureDataset(ctx, cfg.Dataset, cfg.CacheDir, out)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	res.Dataset = info
	fmt.Fprintf(out, "Dataset: %s, %s of blocks and %s of head per replica\n", info.describe(), mib(info.BlockBytes), mib(info.HeadBytes))

	s := &stack{bins: bins, workDir: cfg.WorkDir, queryArgs: cfg.QueryArgs}
	defer s.stop()
	if err := s.startPrometheus(ctx, dirs); err != nil {
		return nil, err
	}
	m := &measurer{cfg: cfg, stack: s, out: out, client: &http.Client{Timeout: 5 * time.Minute}}
	if res.Sidecar, err = m.sidecar(ctx); err != nil {
		return nil, fmt.Errorf("sidecar: %w", err)
	}
	if res.Queries, err = m.queries(ctx); err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	if cfg.Thanos {
		if res.Thanos, err = m.thanos(ctx, res.Queries); err != nil {
			return nil, fmt.Errorf("thanos: %w", err)
		}
	}
	if cfg.Clusters > 0 {
		if res.Clusters, err = m.clusters(ctx); err != nil {
			return nil, fmt.Errorf("clusters: %w", err)
		}
	}
	if cfg.Stores > 0 {
		if res.Stores, err = m.stores(ctx); err != nil {
			return nil, fmt.Errorf("stores: %w", err)
		}
	}
	if cfg.MicroResults != "" {
		if res.Micro, err = readMicro(cfg.MicroResults); err != nil {
			return nil, fmt.Errorf("micro-benchmarks: %w", err)
		}
	}
	res.Targets = checkTargets(res)
	if cfg.Profile > 0 && len(res.Queries) > 0 {
		if res.Profile, err = m.profile(ctx, furthestBehind(res.Queries)); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	return res, nil
}

// measurer runs the measurements over a stack whose Prometheus servers
// are up.
type measurer struct {
	cfg    Config
	stack  *stack
	out    io.Writer
	client *http.Client
}

// sidecar measures replica a's sidecar relaying every counter series over
// a tenth of the history and over all of it: the answer grows tenfold, the
// sidecar's peak memory should not.
func (m *measurer) sidecar(ctx context.Context) ([]SidecarResult, error) {
	d := m.cfg.Dataset
	var results []SidecarResult
	for _, comp := range []string{"none", store.SnappyCompression} {
		for _, length := range []time.Duration{d.Length / 10, d.Length} {
			if err := m.stack.startSidecar(ctx, 0); err != nil {
				return nil, err
			}
			from := d.End().Add(-length)
			var (
				took []time.Duration
				last seriesCall
			)
			for i := range m.cfg.Runs + 1 {
				call, err := readSidecar(ctx, m.stack.sidecars[0].GRPC, comp, from, d.End())
				if err != nil {
					return nil, err
				}
				if call.series != d.Series {
					return nil, fmt.Errorf("sidecar returned %d series, want %d", call.series, d.Series)
				}
				if i > 0 { // the first is the warm-up
					took = append(took, call.took)
				}
				last = call
			}
			rss, err := m.stack.sidecars[0].PeakRSS()
			if err != nil {
				return nil, err
			}
			m.stack.stopSidecars()
			lat := summarise(took)
			r := SidecarResult{
				Range:           shortDuration(length),
				Compression:     comp,
				Series:          last.series,
				Took:            lat,
				SeriesPerSecond: float64(last.series) / lat.Median,
				BytesPerSecond:  float64(last.bytes) / lat.Median,
				Bytes:           last.bytes,
				WireBytes:       last.wireBytes,
				PeakRSS:         rss,
			}
			fmt.Fprintf(m.out, "sidecar %-7s %-6s %6d series in %.3fs: %.0f series/s, %.1f MB/s, %s on the wire, peak RSS %s\n",
				r.Range, comp, r.Series, lat.Median, r.SeriesPerSecond, r.BytesPerSecond/1e6, mib(r.WireBytes), mib(rss))
			results = append(results, r)
		}
	}
	return results, nil
}

// queries measures every row, with every engine and compression,
// restarting the sidecars and the query for each so that each peak RSS
// belongs to one row. The runs of the query and of Prometheus alternate, so
// both meet the same load from anything else on the machine.
func (m *measurer) queries(ctx context.Context) ([]QueryResult, error) {
	var results []QueryResult
	for _, engine := range m.cfg.Engines {
		for _, comp := range m.cfg.Compressions {
			for _, row := range m.rows() {
				r, err := m.query(ctx, queryConfig{engine, comp}, row)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", row, err)
				}
				fmt.Fprintf(m.out, "query %-28s %-10s %-10s %-6s p50 %.3fs p90 %.3fs, Prometheus p50 %.3fs (%.2fx), query RSS %s, sidecar RSS %s/%s, %d series; %s\n",
					row.Shape.Name, row.Window, engine, comp, r.Tandem.Median, r.Tandem.P90, r.Prometheus.Median, r.Ratio,
					mib(r.QueryPeakRSS), mib(r.SidecarPeakRSS[0]), mib(r.SidecarPeakRSS[1]), r.ResultSeries, r.Agreement)
				results = append(results, r)
			}
		}
	}
	return results, nil
}

// queryConfig is how the query under measurement runs.
type queryConfig struct {
	engine, compression string
}

// rows are the rows the configuration selects.
func (m *measurer) rows() []Row {
	var out []Row
	for _, row := range Rows {
		if m.cfg.Rows == nil || m.cfg.Rows.MatchString(row.String()) {
			out = append(out, row)
		}
	}
	return out
}

func (m *measurer) request(row Row) request {
	end := m.cfg.Dataset.End()
	return request{expr: row.Shape.Expr, start: end.Add(-row.Window.Length), end: end, step: row.Window.Step}
}

func (m *measurer) query(ctx context.Context, qc queryConfig, row Row) (QueryResult, error) {
	s := m.stack
	if err := s.startTandem(ctx, qc); err != nil {
		return QueryResult{}, err
	}
	defer s.stopTandem()
	startRSS, err := s.query.PeakRSS()
	if err != nil {
		return QueryResult{}, err
	}
	cpu := s.servingCPU()
	ours, theirs, err := m.alternate(ctx, m.request(row), "http://"+s.query.HTTP)
	if err != nil {
		return QueryResult{}, err
	}
	promCPU, err := cpu(m.cfg.Runs + 1)
	if err != nil {
		return QueryResult{}, err
	}
	r := QueryResult{
		row:           row,
		Shape:         row.Shape.Name,
		Expr:          row.Shape.Expr,
		Window:        row.Window.String(),
		Engine:        qc.engine,
		Compression:   qc.compression,
		ResultSeries:  ours.last.series,
		ResponseBytes: ours.last.bytes,
		Tandem:        summarise(ours.took),
		Prometheus:    summarise(theirs.took),
		QueryStartRSS: startRSS,
		PrometheusCPU: promCPU,
		answer:        ours.last.result,
	}
	r.Ratio = r.Tandem.Median / r.Prometheus.Median
	if r.Agreement, err = agree(ours.last.result, theirs.last.result); err != nil {
		return r, fmt.Errorf("compare with Prometheus: %w", err)
	}
	if r.QueryPeakRSS, err = s.query.PeakRSS(); err != nil {
		return r, err
	}
	if r.SidecarPeakRSS, err = peakRSSes(s.sidecars); err != nil {
		return r, err
	}
	read, err := s.readBytes()
	if err != nil {
		return r, err
	}
	r.ReadBytes = int64(read) / int64(m.cfg.Runs+1)
	return r, nil
}

// furthestBehind is the query with the largest ratio to Prometheus,
// compressed or not: the one a profile should explain.
func furthestBehind(rs []QueryResult) QueryResult {
	var worst QueryResult
	for _, r := range rs {
		if r.Ratio > worst.Ratio {
			worst = r
		}
	}
	return worst
}

// profile asks the query r again and again while it takes CPU profiles of
// the query, sidecar a and Prometheus a, then takes the allocation profiles
// of the query and sidecar a, and the query's metrics.
func (m *measurer) profile(ctx context.Context, r QueryResult) (*Profile, error) {
	s := m.stack
	if err := s.startTandem(ctx, queryConfig{r.Engine, r.Compression}); err != nil {
		return nil, err
	}
	defer s.stopTandem()
	base := "http://" + s.query.HTTP
	p := &Profile{
		Query:         r.label() + ", " + r.Engine + " engine, " + r.Compression,
		CPU:           filepath.Join(m.cfg.WorkDir, "query-cpu.pb.gz"),
		Allocs:        filepath.Join(m.cfg.WorkDir, "query-allocs.pb.gz"),
		Metrics:       filepath.Join(m.cfg.WorkDir, "query-metrics.txt"),
		SidecarCPU:    filepath.Join(m.cfg.WorkDir, "sidecar-a-cpu.pb.gz"),
		SidecarAllocs: filepath.Join(m.cfg.WorkDir, "sidecar-a-allocs.pb.gz"),
		PrometheusCPU: filepath.Join(m.cfg.WorkDir, "prometheus-a-cpu.pb.gz"),
	}
	fmt.Fprintf(m.out, "Profiling for %s on %s\n", m.cfg.Profile, p.Query)
	cpu := fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(m.cfg.Profile.Seconds()))
	profiles := map[string]string{
		base + cpu:                           p.CPU,
		"http://" + s.sidecars[0].HTTP + cpu: p.SidecarCPU,
		s.promURL(0) + cpu:                   p.PrometheusCPU,
	}
	done := make(chan error, len(profiles))
	for url, path := range profiles {
		go func() { done <- fetch(ctx, url, path) }()
	}
	q := m.request(r.row)
	deadline := time.Now().Add(m.cfg.Profile + 30*time.Second)
	for i, pending := 0, len(profiles); ; i++ {
		select {
		case err := <-done:
			if err != nil {
				return nil, err
			}
			if pending--; pending > 0 {
				continue
			}
			for url, path := range map[string]string{
				base + "/debug/pprof/allocs":                           p.Allocs,
				base + "/metrics":                                      p.Metrics,
				"http://" + s.sidecars[0].HTTP + "/debug/pprof/allocs": p.SidecarAllocs,
			} {
				if err := fetch(ctx, url, path); err != nil {
					return nil, err
				}
			}
			fmt.Fprintf(m.out, "Profiled %d queries\n", i)
			return p, nil
		default:
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the CPU profile did not arrive in time")
		}
		if _, err := q.run(ctx, m.client, base); err != nil {
			return nil, err
		}
	}
}

// fetch saves what url answers into path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return writeFile(path, func(w io.Writer) error {
		_, err := io.Copy(w, resp.Body)
		return err
	})
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// size writes b in MiB, or in KiB below one MiB.
func size(b int64) string {
	if b < 1<<20 {
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
	return mib(b)
}

// shortDuration writes 6h and 2h24m rather than 6h0m0s and 2h24m0s.
func shortDuration(d time.Duration) string {
	if d%time.Minute != 0 {
		return d.String()
	}
	h, m := d/time.Hour, d%time.Hour/time.Minute
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dm", m)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
