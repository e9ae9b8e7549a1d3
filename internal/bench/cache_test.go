package bench

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/supervise"
)

// TestPrometheusServesCachedData starts Prometheus as the benchmark does,
// over the cached data: it must answer every generated sample, the newest
// headLength from its head, and leave the cache as it was.
func TestPrometheusServesCachedData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := Dataset{Series: 40, Length: 9 * time.Hour, Interval: 15 * time.Second}
	cacheDir := t.TempDir()
	dirs, _, err := ensureDataset(ctx, d, cacheDir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, cacheDir)

	addrs, err := supervise.FreeAddrs(1)
	if err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	p, err := startPrometheus(filepath.Join(promtest.RepoRoot(t), "bin", "prometheus"), workDir, "prometheus-a", dirs[0], addrs[0], map[string]string{"replica": "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(stopGrace)
	if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
		t.Fatal(err)
	}
	base := "http://" + p.HTTP

	var status struct {
		HeadStats struct {
			NumSeries int   `json:"numSeries"`
			MinTime   int64 `json:"minTime"`
			MaxTime   int64 `json:"maxTime"`
		} `json:"headStats"`
	}
	apiData(t, base, "/api/v1/status/tsdb", nil, &status)
	head := status.HeadStats
	// Prometheus starts its head where the newest block ends: at the last
	// scrape before HeadStart.
	from, end, iv := d.HeadStart().UnixMilli(), d.End().UnixMilli(), d.Interval.Milliseconds()
	if head.MinTime > from || head.MinTime < from-iv-2*jitter.Milliseconds() || head.MaxTime >= end || head.MaxTime < end-iv-2*jitter.Milliseconds() {
		t.Errorf("head holds [%d, %d], want about [%d, %d)", head.MinTime, head.MaxTime, from, end)
	}
	if head.NumSeries != d.Series+d.HistogramSeries() {
		t.Errorf("head holds %d series, want %d", head.NumSeries, d.Series+d.HistogramSeries())
	}

	// Every sample, raw, from blocks and head alike.
	want := &recorder{series: map[string]*series{}}
	if err := d.history(0).append(ctx, want, d.Start().UnixMilli(), d.End().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	got := rawSamples(t, base, `{__name__=~"bench_.+"}[`+(d.Length+time.Minute).String()+`]`, d.End())
	if len(got) != len(want.series) {
		t.Fatalf("Prometheus answers %d series, want %d", len(got), len(want.series))
	}
	var samples int
	for key, w := range want.series {
		samples += len(w.samples)
		if !slices.Equal(got[key], w.samples) {
			t.Errorf("%s: Prometheus answers %d samples, generated %d, or others", key, len(got[key]), len(w.samples))
		}
	}
	t.Logf("%d samples in %d series, head from %s", samples, len(got), time.UnixMilli(head.MinTime).UTC())

	// Having answered, Prometheus has the blocks it started with: it
	// compacted nothing.
	if got, want := blockDirs(t, filepath.Join(workDir, "prometheus-a", "data")), blockDirs(t, dirs[0]); len(want) != 2 || !slices.Equal(got, want) {
		t.Errorf("Prometheus has blocks %v, the cache %v", got, want)
	}
	if err := p.Stop(stopGrace); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, cacheDir)
	changed := map[string]bool{}
	for _, files := range []map[string]string{before, after} {
		for f := range files {
			changed[f] = before[f] != after[f]
		}
	}
	for _, f := range slices.Sorted(maps.Keys(changed)) {
		if changed[f] {
			t.Errorf("running Prometheus changed %s in the cache", f)
		}
	}
}

// snapshot maps each file under dir to a hash of its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// blockDirs are the names of the blocks in the TSDB directory dir.
func blockDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, e := range entries {
		if inBlock(dir, filepath.Join(e.Name(), "meta.json")) {
			blocks = append(blocks, e.Name())
		}
	}
	return blocks
}

// apiData asks Prometheus's HTTP API at base and decodes the data of its
// answer into v.
func apiData(t *testing.T, base, path string, params url.Values, v any) {
	t.Helper()
	r := e2etest.API(context.Background(), t, base, path, params)
	if r.Status != "success" {
		t.Fatalf("%s: %d %s", path, r.Code, r.Error)
	}
	mustUnmarshal(t, r.Data, v)
}

// rawSamples asks Prometheus for the range selector expr at t and returns
// each series' samples, a native histogram's as its count, keyed as the
// generator's.
func rawSamples(t *testing.T, base, expr string, at time.Time) map[string][]sample {
	t.Helper()
	var matrix struct {
		Result []struct {
			Metric     map[string]string    `json:"metric"`
			Values     [][2]json.RawMessage `json:"values"`
			Histograms [][2]json.RawMessage `json:"histograms"`
		} `json:"result"`
	}
	apiData(t, base, "/api/v1/query", url.Values{"query": {expr}, "time": {strconv.FormatInt(at.Unix(), 10)}}, &matrix)
	out := map[string][]sample{}
	for _, s := range matrix.Result {
		key := labels.FromMap(s.Metric).String()
		for _, v := range s.Values {
			var value string
			mustUnmarshal(t, v[1], &value)
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[key] = append(out[key], sample{t: millis(t, v[0]), v: f})
		}
		for _, h := range s.Histograms {
			var hist struct {
				Count string `json:"count"`
			}
			mustUnmarshal(t, h[1], &hist)
			f, err := strconv.ParseFloat(hist.Count, 64)
			if err != nil {
				t.Fatal(err)
			}
			out[key] = append(out[key], sample{t: millis(t, h[0]), v: f})
		}
	}
	return out
}

func millis(t *testing.T, raw json.RawMessage) int64 {
	var s float64
	mustUnmarshal(t, raw, &s)
	return int64(math.Round(s * 1000))
}

func mustUnmarshal(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}
