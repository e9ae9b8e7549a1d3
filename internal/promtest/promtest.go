// Package promtest runs real Prometheus servers for tests: it turns exact,
// generated OpenMetrics text into TSDB blocks with promtool and serves them
// from the Prometheus binary that `make tools` builds from the pinned module.
package promtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

// RepoRoot returns the directory holding the main module's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/tandem-metrics/tandem\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("promtest: repository root not found above the working directory")
		}
		dir = parent
	}
}

// Binary returns the path of a tool built by `make tools` (prometheus,
// promtool). Tests never download anything: a missing binary is a failure
// that says how to build it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtest: %s not found (%v): run `make tools` first", p, err)
	}
	return p
}

// CreateBlocks writes OpenMetrics text into TSDB blocks under dataDir with
// `promtool tsdb create-blocks-from openmetrics`.
func CreateBlocks(t testing.TB, dataDir, openMetrics string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "input.om")
	if err := os.WriteFile(src, []byte(openMetrics), 0o644); err != nil {
		t.Fatalf("write openmetrics: %v", err)
	}
	cmd := exec.Command(Binary(t, "promtool"), "tsdb", "create-blocks-from", "openmetrics", src, dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool create-blocks-from openmetrics: %v\n%s", err, out)
	}
}

// Config says how to run one Prometheus.
type Config struct {
	// DataDir is the TSDB directory; empty means a fresh temporary one.
	DataDir string
	// ExternalLabels become global.external_labels in prometheus.yml.
	ExternalLabels map[string]string
	// ExtraConfig is appended to prometheus.yml (e.g. scrape_configs).
	ExtraConfig string
	// Args are extra command-line flags.
	Args []string
}

// Server is a running Prometheus on a loopback port.
type Server struct {
	t       testing.TB
	cfg     Config
	cfgFile string
	addr    string
	logFile string
	proc    *supervise.Process
}

// Start runs Prometheus and waits until it is ready. It is stopped when the
// test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	dir := t.TempDir()
	s := &Server{
		t:       t,
		cfg:     cfg,
		cfgFile: filepath.Join(dir, "prometheus.yml"),
		logFile: filepath.Join(dir, "prometheus.log"),
	}
	s.WriteConfig(cfg.ExternalLabels, cfg.ExtraConfig)
	// A port free a moment ago may since have become another test's, or
	// the source port of a connection: then Prometheus cannot listen, and
	// another port is tried.
	for attempt := 1; ; attempt++ {
		s.addr = FreeAddr(t)
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's base URL, e.g. http://127.0.0.1:12345.
func (s *Server) URL() string { return "http://" + s.addr }

// ConfigFile is the path of the server's prometheus.yml.
func (s *Server) ConfigFile() string { return s.cfgFile }

// WriteConfig rewrites prometheus.yml; a running server sees it after a
// reload.
func (s *Server) WriteConfig(external map[string]string, extra string) {
	s.t.Helper()
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 15s\n")
	if len(external) > 0 {
		b.WriteString("  external_labels:\n")
		names := make([]string, 0, len(external))
		for n := range external {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "    %s: %q\n", n, external[n])
		}
	}
	b.WriteString(extra)
	if err := os.WriteFile(s.cfgFile, []byte(b.String()), 0o644); err != nil {
		s.t.Fatalf("write prometheus.yml: %v", err)
	}
}

// Start (re)starts a stopped server on the same address and data.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) start() error {
	args := []string{
		"--config.file=" + s.cfgFile,
		"--storage.tsdb.path=" + s.cfg.DataDir,
		"--web.listen-address=" + s.addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	}
	if !slices.ContainsFunc(s.cfg.Args, func(a string) bool { return strings.HasPrefix(a, "--storage.tsdb.retention.time=") }) {
		args = append(args, "--storage.tsdb.retention.time=100y")
	}
	args = append(args, s.cfg.Args...)
	proc, err := supervise.Start(supervise.Options{Name: "prometheus", Path: Binary(s.t, "prometheus"), Args: args, Log: s.logFile})
	if err != nil {
		return err
	}
	s.proc = proc
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := proc.WaitReady(ctx, s.URL()+"/-/ready"); err != nil {
		s.Stop()
		return fmt.Errorf("prometheus on %s: %w\n%s", s.addr, err, s.Log())
	}
	return nil
}

// Restart stops the server and starts it again on the same address and
// data, with args in place of Config.Args (e.g. a shorter
// --storage.tsdb.retention.time).
func (s *Server) Restart(args ...string) {
	s.t.Helper()
	s.Stop()
	s.cfg.Args = args
	s.Start()
}

// DataDir is the server's TSDB directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Stop terminates the server and waits for it to exit.
func (s *Server) Stop() {
	if err := s.proc.Stop(30 * time.Second); err != nil {
		s.t.Error(err)
	}
}

// Log returns what the server has logged so far.
func (s *Server) Log() string { return s.proc.Log() }

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n different loopback host:ports that were free a moment
// ago. They are picked while all n are held, as ports picked one at a time
// and let go may come back twice.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out, err := supervise.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
