package shipper

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/objstore"
)

// external is the replica's external labels in these tests.
var external = labels.FromStrings("cluster", "eu", "replica", "a")

// blockRange is the span of the blocks the tests write, as Prometheus's
// default 2h block.
const blockRange = int64(2 * time.Hour / time.Millisecond)

// writeBlock writes a level-1 block of samples every 15s in [mint, maxt)
// for each series into dir with Prometheus's block writer, which, as
// Prometheus does, writes it under a temporary name and renames it.
func writeBlock(t *testing.T, dir string, mint, maxt int64, series ...labels.Labels) ulid.ULID {
	t.Helper()
	w, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, blockRange)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	app := w.Appender(context.Background())
	for i, ls := range series {
		for ts := mint; ts < maxt; ts += 15_000 {
			if _, err := app.Append(0, ls, ts, float64(i*1000)+float64(ts-mint)/1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	id, err := w.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// testSeries are two series of one metric.
func testSeries() []labels.Labels {
	return []labels.Labels{
		labels.FromStrings("__name__", "up", "job", "a"),
		labels.FromStrings("__name__", "up", "job", "b"),
	}
}

// compact merges blocks of dir into one compacted block (level 2), with
// Prometheus's compactor, and removes the sources, as Prometheus does.
func compact(t *testing.T, dir string, ids ...ulid.ULID) ulid.ULID {
	t.Helper()
	c, err := tsdb.NewLeveledCompactor(context.Background(), nil, slog.New(slog.DiscardHandler), []int64{blockRange, 3 * blockRange}, chunkenc.NewPool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, id := range ids {
		dirs = append(dirs, filepath.Join(dir, id.String()))
	}
	out, err := c.Compact(dir, dirs, nil)
	if err != nil || len(out) != 1 {
		t.Fatalf("compact: %v %v", out, err)
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	return out[0]
}

// fixture is a TSDB directory, a filesystem bucket and a shipper between
// them, with its own registry.
type fixture struct {
	tsdb, bucket string
	reg          *prometheus.Registry
	bkt          objstore.InstrumentedBucket
	shipper      *Shipper
	logs         *bytes.Buffer
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{tsdb: filepath.Join(root, "tsdb"), bucket: filepath.Join(root, "bucket"), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	if err := os.Mkdir(f.tsdb, 0o755); err != nil {
		t.Fatal(err)
	}
	f.open(t, opts)
	return f
}

// open builds the bucket and the shipper afresh, as a restarted sidecar
// does.
func (f *fixture) open(t *testing.T, opts Options) {
	t.Helper()
	f.reg = prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bkt, err := NewBucket(fmt.Appendf(nil, "type: FILESYSTEM\nconfig:\n  directory: %s\n", f.bucket), logger, f.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.bkt = bkt
	opts.Dir = f.tsdb
	if opts.Labels == nil {
		opts.Labels = func(context.Context) (labels.Labels, error) { return external, nil }
	}
	f.shipper, err = New(bkt, opts, logger, f.reg)
	if err != nil {
		t.Fatal(err)
	}
}

// sync runs one pass and checks how many blocks it uploaded.
func (f *fixture) sync(t *testing.T, want int) {
	t.Helper()
	n, err := f.shipper.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v\n%s", err, f.logs)
	}
	if n != want {
		t.Fatalf("Sync uploaded %d blocks, want %d", n, want)
	}
}

// metric is the value of a metric of the fixture's registry, by name and
// label pairs.
func (f *fixture) metric(t *testing.T, name string, lvs ...string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(lvs); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == lvs[i] && lp.GetValue() == lvs[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, lvs)
	return 0
}

// file is a file's content and modification time.
type file struct {
	content string
	mtime   time.Time
}

// tree maps every file under dir (relative, with slashes) to its content
// and modification time; a missing dir is empty.
func tree(t *testing.T, dir string) map[string]file {
	t.Helper()
	out := map[string]file{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = file{string(b), info.ModTime()}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// blocksIn lists the block directories that hold a meta.json in a
// filesystem bucket, sorted: what a store gateway would load.
func blocksIn(t *testing.T, bucket string) []string {
	t.Helper()
	var out []string
	for name := range tree(t, bucket) {
		if id, ok := strings.CutSuffix(name, "/"+metaFilename); ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func ids(us ...ulid.ULID) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	sort.Strings(out)
	return out
}

// longAgo is the modification time age gives files: a file written again
// has a later one.
var longAgo = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// age sets the modification time of every file under dir to longAgo.
func age(t *testing.T, dir string) {
	t.Helper()
	for rel := range tree(t, dir) {
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(rel)), longAgo, longAgo); err != nil {
			t.Fatal(err)
		}
	}
}

// rewritten lists the files under dir written since age.
func rewritten(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for rel, f := range tree(t, dir) {
		if !f.mtime.Equal(longAgo) {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}
