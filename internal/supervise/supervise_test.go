package supervise_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
	"github.com/tandem-metrics/tandem/internal/wait"
)

func start(t *testing.T, script string) *supervise.Process {
	t.Helper()
	p, err := supervise.Start(supervise.Options{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, Log: filepath.Join(t.TempDir(), "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	return p
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		killed       bool
	}{
		{name: "ends on SIGTERM", script: "echo started; exec sleep 30"},
		{name: "ignores SIGTERM, is killed", script: `trap "" TERM; echo started; while :; do sleep 0.05; done`, killed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.script)
			wait.Until(t, 10*time.Second, "the script to start", func() error {
				if !strings.Contains(p.Log(), "started") {
					return fmt.Errorf("log %q", p.Log())
				}
				return nil
			})
			if rss, err := p.PeakRSS(); err != nil || rss <= 0 {
				t.Errorf("peak RSS %d, %v", rss, err)
			}
			err := p.Stop(300 * time.Millisecond)
			if (err != nil) != tc.killed || !p.Exited() {
				t.Errorf("stop: %v, exited %v; want killed %v", err, p.Exited(), tc.killed)
			}
		})
	}
}

func TestWaitReady(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ready.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := start(t, "exec sleep 30").WaitReady(ctx, ready.URL); err != nil {
		t.Errorf("ready server: %v", err)
	}

	p := start(t, "echo cannot start; exit 3")
	err := p.WaitReady(ctx, "http://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("exited process: %v, want an error with its log", err)
	}
	if p.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", p.ExitCode())
	}
}

// TestCPUTime: a process that spins shows CPU time, and one that sleeps
// shows next to none.
func TestCPUTime(t *testing.T) {
	idle := start(t, "exec sleep 30")
	busy := start(t, "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done")
	wait.Until(t, 20*time.Second, "the busy process to use 100 ms of CPU", func() error {
		if d, err := busy.CPUTime(); err != nil || d < 100*time.Millisecond {
			return fmt.Errorf("%v, %v", d, err)
		}
		return nil
	})
	if d, err := idle.CPUTime(); err != nil || d > 50*time.Millisecond {
		t.Fatalf("a sleeping process used %v (%v)", d, err)
	}
}
