package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

// ClusterResult is one query shape asked of a root query over one leaf
// query per cluster, in local mode (the root reads the leaves' Store API
// and evaluates) or distributed mode (the leaves evaluate what the engine
// pushes down to them).
type ClusterResult struct {
	Stack        string  `json:"stack"` // tandem or thanos, root and leaves alike
	Mode         string  `json:"mode"`
	Shape        string  `json:"shape"`
	Range        string  `json:"range"`
	Step         string  `json:"step"`
	ResultSeries int     `json:"result_series"`
	Took         Latency `json:"took"`
	// RootBytes is what the root read from its sockets per query, the
	// leaves' answers nearly all of it (/proc/<pid>/io rchar).
	RootBytes   int64 `json:"root_bytes_per_query"`
	RootPeakRSS int64 `json:"root_peak_rss_bytes"`
	// LeafPeakRSS is the highest peak RSS of the leaves, over all the rows
	// of the stack and mode so far.
	LeafPeakRSS int64 `json:"leaf_peak_rss_bytes"`
}

// clusterRows are the shapes the cluster rows ask, over the last day.
var clusterRows = []Row{{rawSeries, oneDay5m}, {sumRate, oneDay5m}, {classicQuant, oneDay5m}, {countInstance, oneDay5m}}

// clusterStack is one HA pair per cluster with a sidecar each, and one leaf
// query per cluster, all Tandem's or all Thanos's.
type clusterStack struct {
	name     string
	binary   string
	sidecars []*process
	leaves   []*process
}

func (c *clusterStack) stop() {
	for _, p := range append(c.leaves, c.sidecars...) {
		_ = p.Stop(stopGrace)
	}
}

// clusters measures the cluster rows: Prometheus servers for every cluster
// over copies of one dataset, then each stack with a root in each mode.
func (m *measurer) clusters(ctx context.Context) ([]ClusterResult, error) {
	d := Dataset{Series: m.cfg.ClusterSeries, Length: m.cfg.Dataset.Length, Interval: m.cfg.Dataset.Interval}
	dirs, info, err := ensureDataset(ctx, d, m.cfg.CacheDir, m.out)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	fmt.Fprintf(m.out, "Clusters: %d × (%s)\n", m.cfg.Clusters, info.describe())
	var proms []*process
	defer func() {
		for _, p := range proms {
			_ = p.Stop(stopGrace)
		}
	}()
	// All addresses at once: no server listens yet when the next is picked.
	addrs, err := supervise.FreeAddrs(m.cfg.Clusters * len(replicaNames))
	if err != nil {
		return nil, err
	}
	for c := range m.cfg.Clusters {
		for r, replica := range replicaNames {
			name := fmt.Sprintf("c%d-%s", c, replica)
			p, err := startPrometheus(m.stack.bins.Prometheus, filepath.Join(m.cfg.WorkDir, "clusters"), "prometheus-"+name, dirs[r],
				addrs[len(proms)], map[string]string{"cluster": fmt.Sprintf("c%d", c), "replica": replica})
			if err != nil {
				return nil, err
			}
			proms = append(proms, p)
		}
	}
	for _, p := range proms {
		if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
			return nil, err
		}
	}
	var results []ClusterResult
	stacks := []string{"tandem"}
	if m.cfg.Thanos {
		stacks = append(stacks, "thanos")
	}
	for _, name := range stacks {
		rs, err := m.clusterStack(ctx, name, proms)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
	}
	return results, checkClusterAnswers(results)
}

// clusterStack measures every shape through one stack, restarting the
// root for every row so that its peak RSS is the row's.
func (m *measurer) clusterStack(ctx context.Context, name string, proms []*process) ([]ClusterResult, error) {
	cs, err := m.startClusterStack(ctx, name, proms)
	if err != nil {
		return nil, err
	}
	defer cs.stop()
	var results []ClusterResult
	for _, mode := range []string{"local", "distributed"} {
		for _, row := range clusterRows {
			if m.cfg.Rows != nil && !m.cfg.Rows.MatchString(row.String()) {
				continue
			}
			r, err := m.clusterRow(ctx, cs, mode, row)
			if err != nil {
				return nil, fmt.Errorf("%s, %s mode: %w", row, mode, err)
			}
			fmt.Fprintf(m.out, "clusters %-6s %-11s %-20s p50 %.3fs p90 %.3fs, root read %s per query, root RSS %s, leaf RSS %s, %d series\n",
				name, mode, row.Shape.Name, r.Took.Median, r.Took.P90, size(r.RootBytes), mib(r.RootPeakRSS), mib(r.LeafPeakRSS), r.ResultSeries)
			results = append(results, r)
		}
	}
	return results, nil
}

func (m *measurer) startClusterStack(ctx context.Context, name string, proms []*process) (_ *clusterStack, err error) {
	cs := &clusterStack{name: name, binary: m.stack.bins.Tandem}
	if name == "thanos" {
		cs.binary = m.stack.bins.Thanos
	}
	defer func() {
		if err != nil {
			cs.stop()
		}
	}()
	for _, prom := range proms {
		args := []string{"--prometheus.url=http://" + prom.HTTP}
		if name == "thanos" {
			dir := filepath.Join(m.cfg.WorkDir, "clusters", prom.Name()+"-thanos-sidecar")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			args = append(args, "--tsdb.path="+dir)
		} else {
			args = append(args, "--tsdb.path="+prom.DataDir)
		}
		p, err := m.startServer(ctx, cs, strings.Replace(prom.Name(), "prometheus", name+"-sidecar", 1), "sidecar", args...)
		if err != nil {
			return nil, err
		}
		cs.sidecars = append(cs.sidecars, p)
	}
	for c := range m.cfg.Clusters {
		pair := cs.sidecars[2*c : 2*c+2]
		p, err := m.startServer(ctx, cs, fmt.Sprintf("%s-leaf-c%d", name, c), "query",
			"--endpoint="+pair[0].GRPC, "--endpoint="+pair[1].GRPC, "--query.replica-label=replica")
		if err != nil {
			return nil, err
		}
		if err := waitQuery(ctx, p, len(pair)); err != nil {
			return nil, err
		}
		cs.leaves = append(cs.leaves, p)
	}
	return cs, nil
}

// startServer starts a sidecar or query of the stack on fresh loopback
// ports; a sidecar is waited for until it is ready.
func (m *measurer) startServer(ctx context.Context, cs *clusterStack, name, subcommand string, args ...string) (*process, error) {
	addrs, err := supervise.FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	all := append([]string{subcommand, "--grpc-address=" + addrs[0], "--http-address=" + addrs[1], "--log.level=warn"}, args...)
	p, err := startProcess(name, cs.binary, filepath.Join(m.cfg.WorkDir, "clusters", name+".log"), all...)
	if err != nil {
		return nil, err
	}
	p.GRPC, p.HTTP = addrs[0], addrs[1]
	if subcommand == "sidecar" {
		if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
			_ = p.Stop(stopGrace)
			return nil, err
		}
	}
	return p, nil
}

// clusterRow starts a root in mode over the leaves and times row.
func (m *measurer) clusterRow(ctx context.Context, cs *clusterStack, mode string, row Row) (ClusterResult, error) {
	args := []string{"--query.replica-label=replica", "--query.mode=" + mode}
	for _, l := range cs.leaves {
		args = append(args, "--endpoint="+l.GRPC)
	}
	root, err := m.startServer(ctx, cs, cs.name+"-root", "query", args...)
	if err != nil {
		return ClusterResult{}, err
	}
	defer func() { _ = root.Stop(stopGrace) }()
	if err := waitQuery(ctx, root, len(cs.leaves)); err != nil {
		return ClusterResult{}, err
	}
	q := m.request(row)
	base := "http://" + root.HTTP
	if _, err := q.run(ctx, m.client, base); err != nil { // warm-up
		return ClusterResult{}, err
	}
	before, err := readBytes(root)
	if err != nil {
		return ClusterResult{}, err
	}
	var (
		took []time.Duration
		last answer
	)
	for range m.cfg.Runs {
		if last, err = q.run(ctx, m.client, base); err != nil {
			return ClusterResult{}, err
		}
		took = append(took, last.took)
	}
	after, err := readBytes(root)
	if err != nil {
		return ClusterResult{}, err
	}
	r := ClusterResult{
		Stack: cs.name, Mode: mode, Shape: row.Shape.Name,
		Range: shortDuration(row.Window.Length), Step: shortDuration(row.Window.Step),
		ResultSeries: last.series, Took: summarise(took),
		RootBytes: (after - before) / int64(m.cfg.Runs),
	}
	if r.RootPeakRSS, err = root.PeakRSS(); err != nil {
		return r, err
	}
	for _, l := range cs.leaves {
		rss, err := l.PeakRSS()
		if err != nil {
			return r, err
		}
		r.LeafPeakRSS = max(r.LeafPeakRSS, rss)
	}
	return r, nil
}

// checkClusterAnswers fails the run when two rows of one shape answered a
// different number of series: some stack or mode lost data.
func checkClusterAnswers(rs []ClusterResult) error {
	want := map[string]ClusterResult{}
	for _, r := range rs {
		if w, ok := want[r.Shape]; ok && w.ResultSeries != r.ResultSeries {
			return fmt.Errorf("%s: %s in %s mode answered %d series, %s in %s mode %d",
				r.Shape, r.Stack, r.Mode, r.ResultSeries, w.Stack, w.Mode, w.ResultSeries)
		}
		want[r.Shape] = r
	}
	return nil
}

// readBytes is what the process has read so far, from sockets and files
// alike: rchar of /proc/<pid>/io.
func readBytes(p *process) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.Name(), err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no rchar in /proc io", p.Name())
}
