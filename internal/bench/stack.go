package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

const (
	readyTimeout = 2 * time.Minute
	stopGrace    = 30 * time.Second
)

// stack is two Prometheus replicas serving the dataset, which run for the
// whole benchmark, and the sidecars and query over them, which are
// restarted for every measurement so that each peak RSS is its own.
type stack struct {
	bins      binaries
	workDir   string
	queryArgs []string // more flags for Tandem's query

	proms    [2]*process
	sidecars [2]*process
	query    *process
}

// binaries are the paths of the programs the benchmark runs.
type binaries struct {
	Prometheus, Tandem, Thanos string
}

func findBinaries(dir string, thanos bool) (binaries, error) {
	b := binaries{
		Prometheus: filepath.Join(dir, "prometheus"),
		Tandem:     filepath.Join(dir, "tandem"),
		Thanos:     filepath.Join(dir, "thanos"),
	}
	need := []string{b.Prometheus, b.Tandem}
	if thanos {
		need = append(need, b.Thanos)
	}
	for _, p := range need {
		if _, err := os.Stat(p); err != nil {
			return b, fmt.Errorf("%w: run `make tools build` first", err)
		}
	}
	return b, nil
}

// startPrometheus serves each replica's data, cached in dataDirs.
func (s *stack) startPrometheus(ctx context.Context, dataDirs [2]string) error {
	// Both addresses at once: neither server listens yet when the second
	// is picked.
	addrs, err := supervise.FreeAddrs(len(replicaNames))
	if err != nil {
		return err
	}
	for r, name := range replicaNames {
		p, err := startPrometheus(s.bins.Prometheus, s.workDir, "prometheus-"+name, dataDirs[r], addrs[r], map[string]string{"replica": name})
		if err != nil {
			return err
		}
		s.proms[r] = p
	}
	for _, p := range s.proms {
		if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
			return err
		}
	}
	return nil
}

// startPrometheus runs a Prometheus called name on addr over a copy of the
// data cached in cachedDir, with the given external labels, its config,
// data and log in workDir.
func startPrometheus(bin, workDir, name, cachedDir, addr string, external map[string]string) (*process, error) {
	dir := filepath.Join(workDir, name)
	dataDir := filepath.Join(dir, "data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	if err := copyData(cachedDir, dataDir); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var labels strings.Builder
	for _, k := range slices.Sorted(maps.Keys(external)) {
		fmt.Fprintf(&labels, "    %s: %q\n", k, external[k])
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	cfg := "global:\n  scrape_interval: 15s\n  external_labels:\n" + labels.String()
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := startProcess(name, bin, filepath.Join(workDir, name+".log"),
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+dataDir,
		"--storage.tsdb.retention.time=100y",
		"--storage.tsdb.min-block-duration=2h",
		"--storage.tsdb.max-block-duration="+blockLength.String(),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	if err != nil {
		return nil, err
	}
	p.HTTP, p.DataDir = addr, dataDir
	return p, nil
}

// promURL is replica r's Prometheus.
func (s *stack) promURL(r int) string { return "http://" + s.proms[r].HTTP }

// startSidecar starts replica r's sidecar and waits until it serves.
func (s *stack) startSidecar(ctx context.Context, r int) error {
	addrs, err := supervise.FreeAddrs(2)
	if err != nil {
		return err
	}
	name := "sidecar-" + replicaNames[r]
	p, err := startProcess(name, s.bins.Tandem, filepath.Join(s.workDir, name+".log"), "sidecar",
		"--prometheus.url="+s.promURL(r),
		"--tsdb.path="+s.proms[r].DataDir,
		"--grpc-address="+addrs[0],
		"--http-address="+addrs[1],
		"--log.level=warn",
	)
	if err != nil {
		return err
	}
	p.GRPC, p.HTTP = addrs[0], addrs[1]
	s.sidecars[r] = p
	return p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout)
}

// startTandem starts both sidecars and a query over them, the query asking
// the sidecars with the given gRPC compression, and waits until the query
// sees both.
func (s *stack) startTandem(ctx context.Context, qc queryConfig) error {
	for r := range s.sidecars {
		if err := s.startSidecar(ctx, r); err != nil {
			return err
		}
	}
	addrs, err := supervise.FreeAddrs(2)
	if err != nil {
		return err
	}
	args := append([]string{"query",
		"--grpc-address=" + addrs[0],
		"--http-address=" + addrs[1],
		"--endpoint=" + s.sidecars[0].GRPC,
		"--endpoint=" + s.sidecars[1].GRPC,
		"--query.replica-label=replica",
		"--grpc-compression=" + qc.compression,
		"--query.promql-engine=" + qc.engine,
		"--log.level=warn",
	}, s.queryArgs...)
	p, err := startProcess("query", s.bins.Tandem, filepath.Join(s.workDir, "query.log"), args...)
	if err != nil {
		return err
	}
	p.GRPC, p.HTTP = addrs[0], addrs[1]
	s.query = p
	return waitQuery(ctx, p, len(s.sidecars))
}

// waitQuery waits until the query p is ready and sees n healthy stores.
func waitQuery(ctx context.Context, p *process, n int) error {
	if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
		return err
	}
	return poll(ctx, readyTimeout, func() (bool, error) {
		if p.Exited() {
			return false, fmt.Errorf("%s exited:\n%s", p.Name(), p.Tail(20))
		}
		return healthyStores("http://"+p.HTTP) >= n, nil
	})
}

// healthyStores counts the endpoints a query lists without an error.
func healthyStores(base string) int {
	resp, err := http.Get(base + "/api/v1/stores")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var ans struct {
		Data map[string][]struct {
			LastError *string `json:"lastError"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&ans) != nil {
		return 0
	}
	n := 0
	for _, group := range ans.Data {
		for _, st := range group {
			if st.LastError == nil {
				n++
			}
		}
	}
	return n
}

// stopTandem stops the query and the sidecars.
func (s *stack) stopTandem() {
	if s.query != nil {
		_ = s.query.Stop(stopGrace)
		s.query = nil
	}
	s.stopSidecars()
}

func (s *stack) stopSidecars() {
	for r, p := range s.sidecars {
		if p != nil {
			_ = p.Stop(stopGrace)
			s.sidecars[r] = nil
		}
	}
}

// stop stops everything.
func (s *stack) stop() {
	s.stopTandem()
	for r, p := range s.proms {
		if p != nil {
			_ = p.Stop(stopGrace)
			s.proms[r] = nil
		}
	}
}

// readBytes sums what the sidecars have read so far: remote-read frames
// from Prometheus and chunks from its blocks.
func (s *stack) readBytes() (float64, error) {
	var sum float64
	for _, p := range s.sidecars {
		for _, name := range []string{"tandem_sidecar_remote_read_bytes_total", "tandem_sidecar_block_chunk_bytes_total"} {
			v, err := scrapeCounter("http://"+p.HTTP+"/metrics", name)
			if err != nil {
				return 0, err
			}
			sum += v
		}
	}
	return sum, nil
}

// scrapeCounter reads one unlabelled sample from a /metrics page.
func scrapeCounter(url, name string) (float64, error) {
	return scrapeCounterWith(http.DefaultClient, url, name)
}

func scrapeCounterWith(client *http.Client, url, name string) (float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no sample of %s", url, name)
}
