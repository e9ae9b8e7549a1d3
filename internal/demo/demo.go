// Package demo runs Tandem on one machine: two Prometheus replicas filled
// with generated history in which each was down for a while, a sidecar for
// each, and a query over both, so that deduplication can be seen at work.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

// Config is what the demo runs and where.
type Config struct {
	// BinDir holds prometheus, promtool and tandem.
	BinDir string
	// WorkDir keeps configs, TSDB data and logs. The replicas' data is
	// regenerated on every run.
	WorkDir string
	// History is how far back the generated data reaches from the start.
	History time.Duration
	// Listen addresses, per replica where there are two.
	Prometheus  [2]string
	SidecarGRPC [2]string
	SidecarHTTP [2]string
	QueryHTTP   string
	QueryGRPC   string
	// ReadyTimeout bounds the wait for the query to see both sidecars.
	ReadyTimeout time.Duration
	// StopTimeout bounds each child's shutdown before it is killed.
	StopTimeout time.Duration
}

// ScrapeInterval is both the generated history's and the live scrapes'.
const ScrapeInterval = 15 * time.Second

// component is one process the demo starts.
type component struct {
	name  string
	bin   string
	args  []string
	ready check
}

// Run prepares the data, starts every component, waits until the query
// serves both replicas, prints how to use it to out, and keeps everything
// running until ctx ends. It returns nil after a clean stop, and an error if
// anything fails to start or stops on its own. Ports are checked before
// anything is written or started.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	bins, err := findBinaries(cfg.BinDir, "prometheus", "promtool", "tandem")
	if err != nil {
		return err
	}
	h := History{
		End:      time.Now().Truncate(time.Second),
		Length:   cfg.History,
		Interval: ScrapeInterval,
		Seed:     1,
		MissRate: 0.01,
	}
	if err := h.validate(); err != nil {
		return err
	}
	if err := checkListeners(cfg.listeners()); err != nil {
		return err
	}
	logDir := filepath.Join(cfg.WorkDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	fmt.Fprintf(out, "Generating %v of history for replicas %s and %s in %s\n", model.Duration(h.Length), replicaNames[0], replicaNames[1], cfg.WorkDir)
	var proms, sidecars []component
	for r, name := range replicaNames {
		dir := filepath.Join(cfg.WorkDir, name)
		if err := prepareReplica(ctx, bins["promtool"], h, r, dir, cfg); err != nil {
			return err
		}
		proms = append(proms, component{name: "prometheus-" + name, bin: bins["prometheus"], ready: answersOK("http://" + cfg.Prometheus[r] + "/-/ready"), args: []string{
			"--config.file=" + filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + cfg.Prometheus[r],
			"--web.enable-lifecycle",
		}})
	}
	for r, name := range replicaNames {
		sidecars = append(sidecars, component{name: "sidecar-" + name, bin: bins["tandem"], ready: answersOK("http://" + cfg.SidecarHTTP[r] + "/-/ready"), args: []string{
			"sidecar",
			"--prometheus.url=http://" + cfg.Prometheus[r],
			"--tsdb.path=" + filepath.Join(cfg.WorkDir, name, "data"),
			"--grpc-address=" + cfg.SidecarGRPC[r],
			"--http-address=" + cfg.SidecarHTTP[r],
			"--reloader.config-file=" + filepath.Join(cfg.WorkDir, name, "prometheus.yml"),
			"--grpc-grace-period=5s",
			"--http-grace-period=5s",
		}})
	}
	query := component{name: "query", bin: bins["tandem"], ready: all(storesHealthy("http://"+cfg.QueryHTTP, len(replicaNames)), answersData("http://"+cfg.QueryHTTP, "count(up)")), args: []string{
		"query",
		"--http-address=" + cfg.QueryHTTP,
		"--grpc-address=" + cfg.QueryGRPC,
		"--endpoint=" + cfg.SidecarGRPC[0],
		"--endpoint=" + cfg.SidecarGRPC[1],
		"--query.replica-label=replica",
		"--grpc-grace-period=5s",
		"--http-grace-period=5s",
	}}
	// Each stage needs the one before it: a sidecar reads its Prometheus's
	// config at start, and the query is ready once it sees both sidecars
	// and the replicas' first live scrapes answer through it.
	return runStages(ctx, cfg, h, [][]component{proms, sidecars, {query}}, logDir, out)
}

// runStages starts the stages in order, each once the one before is ready,
// reports when all are, and stops every component, in reverse order, when
// ctx ends or one of them exits.
func runStages(ctx context.Context, cfg Config, h History, stages [][]component, logDir string, out io.Writer) (err error) {
	var children []*supervise.Process
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			if stopErr := children[i].Stop(cfg.StopTimeout); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}
		if err == nil {
			fmt.Fprintln(out, "Stopped.")
		}
	}()
	n := 0
	for _, stage := range stages {
		n += len(stage)
	}
	exited := make(chan *supervise.Process, n)
	readyCtx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	for _, stage := range stages {
		for _, c := range stage {
			logPath := filepath.Join(logDir, c.name+".log")
			// Each run's logs start afresh, as its data does.
			if err := os.Remove(logPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			ch, err := supervise.Start(supervise.Options{Name: c.name, Path: c.bin, Args: c.args, Log: logPath, Group: true})
			if err != nil {
				return err
			}
			children = append(children, ch)
			go func() {
				<-ch.Done()
				exited <- ch
			}()
			fmt.Fprintf(out, "Started %-14s (pid %d), log %s\n", ch.Name(), ch.Pid(), logPath)
		}
		for _, c := range stage {
			ready := make(chan error, 1)
			go func() { ready <- poll(readyCtx, c.ready) }()
			select {
			case err := <-ready:
				if ctx.Err() != nil {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%s not ready within %v: %w; logs are in %s", c.name, cfg.ReadyTimeout, err, logDir)
				}
			case ch := <-exited:
				return ch.ExitError()
			}
		}
	}
	printUsage(out, cfg, h, logDir)

	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "Stopping...")
		return nil
	case ch := <-exited:
		return ch.ExitError()
	}
}
