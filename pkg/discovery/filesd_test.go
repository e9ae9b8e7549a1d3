package discovery_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func targetsYAML(servers ...*infoServer) string {
	s := "- targets:\n"
	for _, srv := range servers {
		s += fmt.Sprintf("  - %s\n", srv.addr)
	}
	return s + "  labels:\n    ignored: yes\n"
}

func TestSetFollowsFileSDEdits(t *testing.T) {
	a, b, c := startInfoServer(t, "a"), startInfoServer(t, "b"), startInfoServer(t, "c")
	zone := dnstest.Start(t)
	zone.Set("c.example. 5 IN A 127.0.0.1")
	dir := t.TempDir()
	path := writeFile(t, dir, "stores.yaml", targetsYAML(a))
	writeFile(t, dir, "more.json", `[{"targets": [], "labels": {}}]`)

	opts := discovery.Options{
		Resolver:    discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{zone.Addr()}, Timeout: time.Second}),
		FileSDFiles: []string{filepath.Join(dir, "*.yaml"), filepath.Join(dir, "*.json")},
		// Long, so only the change events can explain what follows.
		FileSDInterval: time.Hour,
		InfoInterval:   50 * time.Millisecond,
	}
	set, reg := runSet(t, opts)
	waitForStores(t, set, slack, a)

	writeFile(t, dir, "stores.yaml", targetsYAML(a, b))
	waitForStores(t, set, slack, a, b)

	t.Log("a DNS form in a JSON file")
	writeFile(t, dir, "more.json", fmt.Sprintf(`[{"targets": [%q]}]`, "dns+c.example.:"+c.port()))
	waitForStores(t, set, slack, a, b, c)
	writeFile(t, dir, "more.json", `[]`)
	waitForStores(t, set, slack, a, b)

	t.Log("a bad edit keeps the last good endpoints")
	if err := os.WriteFile(path, []byte("- targets: [oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, slack, "endpoint set", func() error {
		if got, want := storeAddrs(set), serverAddrs(a, b); !slices.Equal(got, want) {
			t.Fatalf("healthy stores %q after a bad edit, want %q", got, want)
		}
		if n := metricValue(t, reg, "tandem_endpoint_file_sd_read_errors_total"); n == 0 {
			return fmt.Errorf("bad edit not read yet")
		}
		return nil
	})

	writeFile(t, dir, "stores.yaml", targetsYAML(b))
	waitForStores(t, set, slack, b)
}

// TestSetFollowsConfigMapSwap updates the file the way the kubelet updates
// a mounted ConfigMap: the file is a symlink through "..data", and an update
// swaps "..data" to a new directory.
func TestSetFollowsConfigMapSwap(t *testing.T) {
	a, b := startInfoServer(t, "a"), startInfoServer(t, "b")
	dir := t.TempDir()
	writeFile(t, dir, "..2025_01_01_00_00_00.1/stores.yaml", targetsYAML(a))
	mustSymlink(t, "..2025_01_01_00_00_00.1", filepath.Join(dir, "..data"))
	mustSymlink(t, "..data/stores.yaml", filepath.Join(dir, "stores.yaml"))

	opts := discovery.Options{
		FileSDFiles:    []string{filepath.Join(dir, "stores.yaml")},
		FileSDInterval: time.Hour,
		InfoInterval:   50 * time.Millisecond,
	}
	set, _ := runSet(t, opts)
	waitForStores(t, set, slack, a)

	writeFile(t, dir, "..2025_01_01_00_05_00.2/stores.yaml", targetsYAML(b))
	mustSymlink(t, "..2025_01_01_00_05_00.2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2025_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	waitForStores(t, set, slack, b)
}

// TestSetRereadsFileSDPeriodically covers files whose changes no event
// reports: a glob over directories is not watched.
func TestSetRereadsFileSDPeriodically(t *testing.T) {
	a, b := startInfoServer(t, "a"), startInfoServer(t, "b")
	dir := t.TempDir()
	writeFile(t, dir, "team/stores.yaml", targetsYAML(a))
	opts := discovery.Options{
		FileSDFiles:    []string{filepath.Join(dir, "*", "stores.yaml")},
		FileSDInterval: 200 * time.Millisecond,
		InfoInterval:   50 * time.Millisecond,
	}
	set, _ := runSet(t, opts)
	waitForStores(t, set, slack, a)

	writeFile(t, dir, "team/stores.yaml", targetsYAML(b))
	waitForStores(t, set, opts.FileSDInterval+slack, b)
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
