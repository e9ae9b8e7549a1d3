package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

// process is one child the benchmark runs, with the loopback addresses it
// listens on, if any.
type process struct {
	*supervise.Process
	HTTP, GRPC string
	// DataDir is a Prometheus's --storage.tsdb.path, which its sidecar
	// reads blocks from.
	DataDir string
}

// startProcess runs bin with args, its output in a fresh log at logPath.
func startProcess(name, bin, logPath string, args ...string) (*process, error) {
	if err := os.Remove(logPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	p, err := supervise.Start(supervise.Options{Name: name, Path: bin, Args: args, Log: logPath})
	if err != nil {
		return nil, err
	}
	return &process{Process: p}, nil
}

// peakRSSes is the peak RSS of each of a pair of processes, the sidecars.
func peakRSSes(ps [2]*process) (rss [2]int64, err error) {
	for i, p := range ps {
		if rss[i], err = p.PeakRSS(); err != nil {
			return rss, err
		}
	}
	return rss, nil
}

func (p *process) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return p.WaitReady(ctx, url)
}

// poll calls check every 50 ms until it reports done or an error, ctx ends
// or timeout passes.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done after %v: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}
