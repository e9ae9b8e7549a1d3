package bench

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/promtest"
)

// TestRun runs the whole benchmark on a small dataset, with both gRPC
// compressions, and checks that every number it reports was measured.
func TestRun(t *testing.T) {
	cfg := Config{
		BinDir:        filepath.Join(promtest.RepoRoot(t), "bin"),
		CacheDir:      t.TempDir(),
		WorkDir:       t.TempDir(),
		Dataset:       Dataset{Series: 8, Length: time.Hour, Interval: 15 * time.Second},
		Runs:          2,
		Compressions:  []string{"none", "snappy"},
		Engines:       []string{"prometheus", "thanos"},
		Rows:          regexp.MustCompile("^raw"),
		Thanos:        true,
		Clusters:      2,
		ClusterSeries: 4,
		Stores:        8,
		StoreSeries:   3,
		Command:       "go test",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	// An hour of history is all in the head.
	if d := res.Dataset; d.Cached || d.BlockBytes != 0 || d.HeadBytes == 0 || d.SeriesPerReplica != 8+13 {
		t.Errorf("dataset %+v, want a freshly generated head of 21 series and no blocks", d)
	}
	rawRows := 0
	for _, r := range Rows {
		if cfg.Rows.MatchString(r.String()) {
			rawRows++
		}
	}
	if len(res.Queries) != rawRows*len(cfg.Compressions)*len(cfg.Engines) {
		t.Fatalf("%d query results, want %d", len(res.Queries), rawRows*len(cfg.Compressions)*len(cfg.Engines))
	}
	for _, q := range res.Queries {
		ok := q.ResultSeries == 8 && q.Tandem.Runs == 2 && q.Tandem.Median > 0 && q.Prometheus.Median > 0 && q.Ratio > 0 &&
			q.QueryStartRSS > 0 && q.QueryPeakRSS >= q.QueryStartRSS && q.SidecarPeakRSS[0] > 0 && q.SidecarPeakRSS[1] > 0 &&
			q.ReadBytes > 0 && q.Agreement.Points > 0 && q.Agreement.Close > 0
		if !ok {
			t.Errorf("query result with missing measurements: %+v", q)
		}
	}
	if len(res.Sidecar) != 4 {
		t.Fatalf("%d sidecar results, want 4: two ranges, with and without snappy", len(res.Sidecar))
	}
	for _, s := range res.Sidecar {
		if s.Series != 8 || s.Bytes == 0 || s.WireBytes == 0 || s.PeakRSS == 0 || s.SeriesPerSecond <= 0 {
			t.Errorf("sidecar result with missing measurements: %+v", s)
		}
	}

	if len(res.Thanos) != rawRows {
		t.Fatalf("%d Thanos results, want %d", len(res.Thanos), rawRows)
	}
	for _, th := range res.Thanos {
		ok := th.ResultSeries == 8 && th.Thanos.Runs == 2 && th.Thanos.Median > 0 && th.Prometheus.Median > 0 && th.Ratio > 0 &&
			th.QueryPeakRSS > 0 && th.SidecarPeakRSS[0] > 0 && th.SidecarPeakRSS[1] > 0 &&
			th.AgreementWithTandem.Points > 0 && th.AgreementWithPrometheus.Points > 0
		if !ok {
			t.Errorf("Thanos result with missing measurements: %+v", th)
		}
	}

	if len(res.Clusters) != 4 {
		t.Fatalf("%d cluster results, want 4: two stacks in two modes", len(res.Clusters))
	}
	for _, c := range res.Clusters {
		// Two clusters of 4 counters each.
		ok := c.ResultSeries == 8 && c.Took.Runs == 2 && c.Took.Median > 0 && c.RootBytes > 0 && c.RootPeakRSS > 0 && c.LeafPeakRSS > 0
		if !ok {
			t.Errorf("cluster result with missing measurements: %+v", c)
		}
	}

	if len(res.Stores) != 5 {
		t.Fatalf("%d stores results, want 5", len(res.Stores))
	}
	for _, s := range res.Stores {
		ok := s.Stores == 8 && s.Took.Runs == 2 && s.Took.Median > 0 && s.QueryPeakRSS > 0 && s.PeakGoroutines > 0 && s.RestGoroutines > 0 &&
			s.ResultSeries == map[string]int{"all stores": 4}[s.Name]+map[bool]int{true: 1}[s.Name != "all stores"]
		if !ok {
			t.Errorf("stores result with missing measurements: %+v", s)
		}
	}

	// The data is cached for the next run.
	if _, info, err := ensureDataset(ctx, cfg.Dataset, cfg.CacheDir, io.Discard); err != nil || !info.Cached {
		t.Errorf("second use of the dataset: cached %v, err %v", info.Cached, err)
	}

	var table strings.Builder
	if err := WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| raw 1k series | 6h / 1m | thanos | snappy | 8 |", "% within 1%", "| target | measured | met |", "| Thanos p50 |",
		"| raw 1k series | 24h / 5m | tandem | distributed | 8 |"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := WriteJSON(res, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil || len(back.Queries) != len(res.Queries) || back.Queries[0].Tandem != res.Queries[0].Tandem {
		t.Errorf("results do not read back from JSON (%v):\n%s", err, b)
	}
}
