package reloader

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tandem-metrics/tandem/internal/wait"
)

// configMapDir lays files out as the kubelet mounts a ConfigMap: the data
// lives in a timestamped directory, ..data points at it, and each key is a
// symlink through ..data. An update writes a new timestamped directory and
// swaps ..data with one rename, so the keys' own names never change.
type configMapDir struct {
	t       *testing.T
	dir     string
	version int
	current string
}

func newConfigMapDir(t *testing.T, files map[string]string) *configMapDir {
	t.Helper()
	c := &configMapDir{t: t, dir: t.TempDir()}
	c.update(files)
	return c
}

func (c *configMapDir) path(key string) string { return filepath.Join(c.dir, key) }

func (c *configMapDir) update(files map[string]string) {
	c.t.Helper()
	c.version++
	ts := fmt.Sprintf("..2026_01_02_15_04_05.%09d", c.version)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(c.dir, ts, k), []byte(v), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	for k := range files {
		link := filepath.Join(c.dir, k)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	if c.current != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, c.current)); err != nil {
			c.t.Fatal(err)
		}
	}
	c.current = ts
}

// syncBuffer collects log output written from the reloader's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startReloader runs a reloader until the test ends and returns it with its
// log.
func startReloader(t *testing.T, opts Options) (*Reloader, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(opts, logger, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("reloader log:\n%s", logs)
		}
	})
	return r, logs
}

// eventually polls cond until it holds or the deadline passes; cond returns
// what it saw, for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	wait.Until(t, timeout, what, func() error {
		if ok, seen := cond(); !ok {
			return fmt.Errorf("last seen: %s", seen)
		}
		return nil
	})
}

// metricAtLeast is a condition for eventually: c's value reached want.
func metricAtLeast(c prometheus.Collector, want float64) func() (bool, string) {
	return func() (bool, string) {
		v := testutil.ToFloat64(c)
		return v >= want, fmt.Sprintf("value %v, want >= %v", v, want)
	}
}

// fakePrometheus answers /-/reload with the statuses in answers, in turn,
// then 200; it counts the requests.
type fakePrometheus struct {
	*httptest.Server
	reloads atomic.Int64
}

func newFakePrometheus(t *testing.T, answers ...int) *fakePrometheus {
	t.Helper()
	f := &fakePrometheus{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/-/reload" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		n := f.reloads.Add(1)
		if int(n) <= len(answers) && answers[n-1] != http.StatusOK {
			http.Error(w, "failed to reload config: fake failure", answers[n-1])
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePrometheus) url(t *testing.T) *url.URL {
	u, err := url.Parse(f.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustContain(t *testing.T, s, sub, what string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s does not contain %q:\n%s", what, sub, s)
	}
}
