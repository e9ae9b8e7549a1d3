package reloader

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The tests in this file use a fake Prometheus that counts reload requests;
// prometheus_test.go runs the same paths against a real one.

func TestNewRejectsBadOptions(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9090")
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no URL", Options{ConfigFile: "a", RetryInterval: time.Second}, "no Prometheus URL"},
		{"output without input", Options{PrometheusURL: u, ConfigEnvsubstFile: "out", RetryInterval: time.Second}, "needs a config file"},
		{"output is input", Options{PrometheusURL: u, ConfigFile: "/x/p.yml", ConfigEnvsubstFile: "/x/./p.yml", RetryInterval: time.Second}, "same file"},
		{"negative watch interval", Options{PrometheusURL: u, WatchInterval: -time.Second, RetryInterval: time.Second}, "negative watch interval"},
		{"zero retry interval", Options{PrometheusURL: u}, "retry interval must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Without an envsubst file Prometheus reads the config file itself: the
// reloader writes nothing and reloads on change (Thanos's behaviour).
func TestReloaderWithoutEnvsubstFileOnlyReloads(t *testing.T) {
	prom := newFakePrometheus(t)
	cm := newConfigMapDir(t, map[string]string{"prometheus.yml": "global: {}\n# $(UNSET_IS_FINE_HERE)\n"})
	r, _ := startReloader(t, Options{
		PrometheusURL: prom.url(t),
		ConfigFile:    cm.path("prometheus.yml"),
		WatchInterval: time.Hour, // only file-system events can trigger
		RetryInterval: 50 * time.Millisecond,
	})
	eventually(t, 10*time.Second, "initial reload", metricAtLeast(r.metrics.lastReloadSuccess, 1))
	if got := prom.reloads.Load(); got != 1 {
		t.Fatalf("reloads at start = %d, want 1", got)
	}
	before := dirNames(t, cm.dir)

	cm.update(map[string]string{"prometheus.yml": "global: {scrape_interval: 30s}\n"})
	eventually(t, 10*time.Second, "reload after the ConfigMap swap", func() (bool, string) {
		n := prom.reloads.Load()
		return n == 2, "reloads: " + strconv.FormatInt(n, 10)
	})
	after := dirNames(t, cm.dir)
	// Only the timestamped data directory changes name; nothing is written.
	if len(before) != len(after) {
		t.Fatalf("files changed from %v to %v: the reloader must not write without an envsubst file", before, after)
	}
	if v := testutil.ToFloat64(r.metrics.applyFailures); v != 0 {
		t.Fatalf("apply failures = %v: $(VAR) must not be expanded without an envsubst file", v)
	}
}

func TestReloaderDecompressesGzippedConfig(t *testing.T) {
	prom := newFakePrometheus(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("global:\n  external_labels:\n    replica: $(POD_NAME)\n"))
	zw.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in", "prometheus.yml.gz")
	out := filepath.Join(dir, "out", "prometheus.yml")
	os.Mkdir(filepath.Dir(in), 0o755)
	os.Mkdir(filepath.Dir(out), 0o755)
	if err := os.WriteFile(in, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := startReloader(t, Options{
		PrometheusURL:      prom.url(t),
		ConfigFile:         in,
		ConfigEnvsubstFile: out,
		WatchInterval:      time.Hour,
		RetryInterval:      50 * time.Millisecond,
		LookupEnv:          envOf(map[string]string{"POD_NAME": "prometheus-0"}),
	})
	eventually(t, 10*time.Second, "reload", metricAtLeast(r.metrics.lastReloadSuccess, 1))
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "global:\n  external_labels:\n    replica: prometheus-0\n"; string(got) != want {
		t.Fatalf("envsubst file = %q, want %q", got, want)
	}
}

// Rewriting a file with the same content, or a ConfigMap update that
// renders the same config, must not reload Prometheus.
func TestReloaderSkipsReloadWhenNothingChanged(t *testing.T) {
	prom := newFakePrometheus(t)
	cm := newConfigMapDir(t, map[string]string{"prometheus.yml.tmpl": "global:\n  external_labels:\n    replica: $(POD_NAME)\n"})
	out := filepath.Join(t.TempDir(), "prometheus.yml")
	r, _ := startReloader(t, Options{
		PrometheusURL:      prom.url(t),
		ConfigFile:         cm.path("prometheus.yml.tmpl"),
		ConfigEnvsubstFile: out,
		WatchInterval:      time.Hour,
		RetryInterval:      50 * time.Millisecond,
		LookupEnv:          envOf(map[string]string{"POD_NAME": "prometheus-0"}),
	})
	eventually(t, 10*time.Second, "initial reload", metricAtLeast(r.metrics.lastReloadSuccess, 1))
	applies := testutil.ToFloat64(r.metrics.applies)

	cm.update(map[string]string{"prometheus.yml.tmpl": "global:\n  external_labels:\n    replica: $(POD_NAME)\n"})
	eventually(t, 10*time.Second, "the update was looked at", metricAtLeast(r.metrics.applies, applies+1))
	if n := prom.reloads.Load(); n != 1 {
		t.Fatalf("reloads = %d after an update with the same content, want 1", n)
	}
	if v := testutil.ToFloat64(r.metrics.watchEvents); v == 0 {
		t.Fatal("no watch events counted for a ConfigMap swap")
	}
}

// A failed reload is retried every retry interval until Prometheus accepts
// it; the metrics show the failures and then the success.
func TestReloaderRetriesFailedReload(t *testing.T) {
	prom := newFakePrometheus(t, http.StatusServiceUnavailable, http.StatusInternalServerError)
	cm := newConfigMapDir(t, map[string]string{"prometheus.yml": "global: {}\n"})
	r, logs := startReloader(t, Options{
		PrometheusURL: prom.url(t),
		ConfigFile:    cm.path("prometheus.yml"),
		WatchInterval: time.Hour, // so only the retry interval can bring the retries
		RetryInterval: 50 * time.Millisecond,
	})
	eventually(t, 10*time.Second, "reload success after two failures", metricAtLeast(r.metrics.lastReloadSuccess, 1))
	if n := prom.reloads.Load(); n != 3 {
		t.Fatalf("reload requests = %d, want 3 (two failures, one success)", n)
	}
	if v := testutil.ToFloat64(r.metrics.reloadFailures); v != 2 {
		t.Fatalf("reload failures = %v, want 2", v)
	}
	if v := testutil.ToFloat64(r.metrics.lastReloadSuccessTime); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last success timestamp = %v, not recent", v)
	}
	mustContain(t, logs.String(), "fake failure", "reloader log")
}

// An unset variable is reported by name, counted, and nothing is written or
// reloaded.
func TestReloaderReportsUnsetVariable(t *testing.T) {
	prom := newFakePrometheus(t)
	cm := newConfigMapDir(t, map[string]string{"prometheus.yml.tmpl": "global:\n  external_labels:\n    replica: $(POD_NAME)\n"})
	out := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, logs := startReloader(t, Options{
		PrometheusURL:      prom.url(t),
		ConfigFile:         cm.path("prometheus.yml.tmpl"),
		ConfigEnvsubstFile: out,
		WatchInterval:      time.Hour,
		RetryInterval:      50 * time.Millisecond,
		LookupEnv:          envOf(nil),
	})
	eventually(t, 10*time.Second, "apply failure counted", metricAtLeast(r.metrics.applyFailures, 1))
	mustContain(t, logs.String(), `environment variable \"POD_NAME\"`, "reloader log")
	if b, _ := os.ReadFile(out); string(b) != "old\n" {
		t.Fatalf("envsubst file = %q: a config with an unset variable must not be written", b)
	}
	if n := prom.reloads.Load(); n != 0 {
		t.Fatalf("reloads = %d, want 0", n)
	}
	if v := testutil.ToFloat64(r.metrics.configHash); v != 0 {
		t.Fatalf("config hash = %v, want 0 before any applied config", v)
	}
}

func TestHashValueIsExactAndStable(t *testing.T) {
	a, b := hashValue([]byte("a")), hashValue([]byte("b"))
	if a == b || a != hashValue([]byte("a")) {
		t.Fatalf("hashValue: a=%v b=%v", a, b)
	}
	if a >= 1<<48 || float64(uint64(a)) != a {
		t.Fatalf("hashValue(a) = %v is not an exact 48-bit integer", a)
	}
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A change the file-system watch cannot see (here the config file is a
// symlink into a directory that is not watched, and the target is rewritten
// in place) is still applied by the periodic check.
func TestReloaderPeriodicCheckCatchesMissedEvents(t *testing.T) {
	prom := newFakePrometheus(t)
	watched, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "prometheus.yml")
	if err := os.WriteFile(target, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(watched, "prometheus.yml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r, _ := startReloader(t, Options{
		PrometheusURL: prom.url(t),
		ConfigFile:    link,
		WatchInterval: 200 * time.Millisecond,
		RetryInterval: time.Hour,
	})
	eventually(t, 10*time.Second, "initial reload", metricAtLeast(r.metrics.lastReloadSuccess, 1))

	if err := os.WriteFile(target, []byte("global: {scrape_interval: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "reload after the periodic check", func() (bool, string) {
		n := prom.reloads.Load()
		return n == 2, "reloads: " + strconv.FormatInt(n, 10)
	})
	if v := testutil.ToFloat64(r.metrics.watchEvents); v != 0 {
		t.Fatalf("watch events = %v: the change was seen by the watch, so the periodic check went untested", v)
	}
}
