package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// rateWindow and rateStep make the query Grafana sends for a 15 s scrape
// interval: rate(x[1m]) every 15 s.
const (
	rateWindow = time.Minute
	rateStep   = 15 * time.Second
)

// TestDedupAgainstGroundTruth serves generated HA-pair data, whose true values
// are known exactly, from two real Prometheus servers behind our sidecars,
// and checks what our querier returns through its HTTP API against the
// truth: the merged samples themselves, and rate() next to the true rate
// and next to what one replica alone gives. Thanos's querier reads the same
// sidecars, and its numbers are logged beside ours.
func TestDedupAgainstGroundTruth(t *testing.T) {
	began := time.Now()
	ds, err := groundtruth.Generate(groundtruth.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var endpoints []string
	for r := range ds.Replicas {
		// The data carries no replica label: each Prometheus adds its own
		// as an external label, as in production.
		var om bytes.Buffer
		if err := ds.WriteOpenMetrics(&om, r, ""); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		promtest.CreateBlocks(t, dir, om.String())
		p := promtest.Start(t, promtest.Config{DataDir: dir, ExternalLabels: map[string]string{"replica": replicaName(r)}})
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	ours := "http://" + e2etest.Query(t, endpoints, "--query.replica-label=replica").HTTP
	thanosQuery := e2etest.ThanosQuery(t, endpoints, "--query.replica-label=replica")
	thanosQuery.WaitHealthyStores(len(endpoints), time.Minute)
	thanos := "http://" + thanosQuery.HTTP
	t.Logf("data: %s, %d targets, %d samples per replica; set up in %v",
		ds.Config.Duration, len(ds.Targets), sampleCount(ds), time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("merged samples", func(t *testing.T) {
		got := rawSeries(ctx, t, ours, ds, true)
		if len(got) != 2*len(ds.Targets) {
			t.Fatalf("%d series, want one per target and metric: %d", len(got), 2*len(ds.Targets))
		}
		faulty := 0
		for _, s := range got {
			if s.Labels.Has("replica") {
				t.Errorf("%s: replica label kept", s.Labels)
			}
			// A selector without a function reads a gauge as a gauge: its
			// values must be exactly what a replica read.
			faults := ds.Shape(s.Labels, s.Samples).Faults(true)
			for _, f := range faults {
				t.Errorf("%s: %s", s.Labels, f)
			}
			if len(faults) > 0 {
				faulty++
			}
		}
		t.Logf("tandem:  %d merged series, %d with faults", len(got), faulty)
		logShapes(t, "thanos: ", ds, rawSeries(ctx, t, thanos, ds, true))
	})

	t.Run("dedup=false", func(t *testing.T) {
		got := rawSeries(ctx, t, ours, ds, false)
		if want := 2 * 2 * len(ds.Targets); len(got) != want {
			t.Fatalf("%d series, want %d: every series of both replicas", len(got), want)
		}
		for _, s := range got {
			r := slices.IndexFunc([]string{replicaName(0), replicaName(1)}, func(name string) bool {
				return name == s.Labels.Get("replica")
			})
			if r < 0 {
				t.Fatalf("%s: no replica label r0 or r1", s.Labels)
			}
			lset := labels.NewBuilder(s.Labels).Del("replica").Labels()
			raw := ds.Raw(lset)
			if len(raw) != 2 {
				t.Fatalf("%s: not a generated series", s.Labels)
			}
			if !slices.Equal(s.Samples, raw[r]) {
				t.Errorf("%s: %d samples, not exactly the %d that replica stored", s.Labels, len(s.Samples), len(raw[r]))
			}
		}
	})

	t.Run("rate", func(t *testing.T) {
		query := "rate(" + groundtruth.CounterName + "[" + model.Duration(rateWindow).String() + "])"
		// accuracy judges each replica label value's series (none, when
		// deduplicated) of one range query.
		accuracy := func(base string, dedup bool) map[string]groundtruth.Accuracy {
			byReplica := map[string]map[string][]groundtruth.Sample{}
			for _, s := range rangeQuery(ctx, t, base, query, ds, dedup) {
				replica := s.Labels.Get("replica")
				if byReplica[replica] == nil {
					byReplica[replica] = map[string][]groundtruth.Sample{}
				}
				byReplica[replica][s.Labels.Get("instance")] = s.Samples
			}
			out := map[string]groundtruth.Accuracy{}
			for replica, byInstance := range byReplica {
				out[replica] = ds.RateAccuracy(byInstance, rateWindow, rateStep)
			}
			return out
		}
		alone, merged, thanosMerged := accuracy(ours, false), accuracy(ours, true), accuracy(thanos, true)
		if len(alone) != 2 || len(merged) != 1 || len(thanosMerged) != 1 {
			t.Fatalf("replica label values: %d without dedup, %d and %d with: want 2, 1 and 1", len(alone), len(merged), len(thanosMerged))
		}
		results := []struct {
			name string
			acc  groundtruth.Accuracy
		}{
			{"r0 alone", alone[replicaName(0)]},
			{"r1 alone", alone[replicaName(1)]},
			{"tandem", merged[""]},
			{"thanos", thanosMerged[""]},
		}
		for _, r := range results {
			t.Logf("%-9s %s: points=%d missing=%d off>50%%=%d p99=%.4f",
				r.name, query, r.acc.Points, r.acc.Missing, r.acc.Off50, r.acc.P99)
		}
		single := min(results[0].acc.Off50, results[1].acc.Off50)
		got := results[2].acc
		if got.Points < 30_000 {
			t.Errorf("only %d points judged: the data or the measure changed", got.Points)
		}
		if got.Off50 > single/10 {
			t.Errorf("%d points off by >50%%, want at most a tenth of one replica alone's %d", got.Off50, single)
		}
		if got.P99 > 0.10 {
			t.Errorf("p99 relative error %.4f, want at most 0.10", got.P99)
		}
		if got.Missing > 0 {
			t.Errorf("no rate at %d points where a replica had data", got.Missing)
		}
		for _, p := range got.Off {
			t.Logf("off: %s at +%ds: got %v (missing %v), want %v", p.Instance, (p.T-ds.Start)/1000, p.Got, p.Missing, p.Want)
		}
	})
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}

// replicaName is the external replica label of ground-truth replica r.
func replicaName(r int) string { return fmt.Sprintf("r%d", r) }

func sampleCount(ds *groundtruth.Dataset) int {
	n := 0
	for _, s := range ds.Replicas[groundtruth.ReplicaA].Series {
		n += len(s.Samples)
	}
	return n
}

// logShapes logs, without judging them, the faults of another querier's
// merged series, summed over all series.
func logShapes(t *testing.T, name string, ds *groundtruth.Dataset, got []matrixSeries) {
	t.Helper()
	var sum groundtruth.Shape
	falseResets, faulty := 0, 0
	for _, s := range got {
		sh := ds.Shape(s.Labels, s.Samples)
		sum.Samples += sh.Samples
		sum.NearDuplicates += sh.NearDuplicates
		sum.Holes = append(sum.Holes, sh.Holes...)
		sum.Invented += sh.Invented
		sum.InBothDown += sh.InBothDown
		if sh.Counter {
			falseResets += max(sh.Drops-sh.Restarts, 0)
		} else {
			sum.Unread += sh.Unread
		}
		if len(sh.Faults(true)) > 0 {
			faulty++
		}
	}
	t.Logf("%s %d merged series, %d with faults: %d samples, %d near-duplicates, %d holes, %d invented, %d in the both-down window, %d false counter resets, %d gauge values no replica read",
		name, len(got), faulty, sum.Samples, sum.NearDuplicates, len(sum.Holes), sum.Invented, sum.InBothDown, falseResets, sum.Unread)
}

// rawSeries returns the raw samples of every generated series over the
// whole dataset, read through base's instant query API with a range
// selector.
func rawSeries(ctx context.Context, t *testing.T, base string, ds *groundtruth.Dataset, dedup bool) []matrixSeries {
	t.Helper()
	// A minute of margin on each side; replica B's skewed clock records up
	// to SkewB past the end.
	at := ds.End + time.Minute.Milliseconds()
	window := time.Duration(at-ds.Start)*time.Millisecond + time.Minute
	r := e2etest.API(ctx, t, base, "/api/v1/query", url.Values{
		"query": {fmt.Sprintf(`{__name__=~"tandem_gt_.+"}[%ds]`, int64(window.Seconds()))},
		"time":  {formatTime(at)},
		"dedup": {strconv.FormatBool(dedup)},
	})
	return matrix(t, r)
}

// rangeQuery evaluates query over the whole dataset every rateStep.
func rangeQuery(ctx context.Context, t *testing.T, base, query string, ds *groundtruth.Dataset, dedup bool) []matrixSeries {
	t.Helper()
	r := e2etest.API(ctx, t, base, "/api/v1/query_range", url.Values{
		"query": {query},
		"start": {formatTime(ds.Start)},
		"end":   {formatTime(ds.End)},
		"step":  {strconv.FormatFloat(rateStep.Seconds(), 'f', -1, 64)},
		"dedup": {strconv.FormatBool(dedup)},
	})
	return matrix(t, r)
}

func formatTime(ms int64) string { return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) }

// matrixSeries is one series of a matrix result.
type matrixSeries struct {
	Labels  labels.Labels
	Samples []groundtruth.Sample
}

// matrix decodes a matrix result, checking that no two series share labels.
func matrix(t *testing.T, r e2etest.APIResponse) []matrixSeries {
	t.Helper()
	if r.Status != "success" {
		t.Fatalf("query failed: %d %s: %s", r.Code, r.ErrorType, r.Error)
	}
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ResultType != "matrix" {
		t.Fatalf("result type %q, want matrix", d.ResultType)
	}
	seen := map[string]bool{}
	out := make([]matrixSeries, 0, len(d.Result))
	for _, s := range d.Result {
		lset := labels.FromMap(s.Metric)
		if seen[lset.String()] {
			t.Errorf("duplicate series %s", lset)
		}
		seen[lset.String()] = true
		ms := matrixSeries{Labels: lset, Samples: make([]groundtruth.Sample, 0, len(s.Values))}
		for _, p := range s.Values {
			ts, ok1 := p[0].(float64)
			vs, ok2 := p[1].(string)
			v, err := strconv.ParseFloat(vs, 64)
			if !ok1 || !ok2 || err != nil {
				t.Fatalf("%s: bad point %v", lset, p)
			}
			ms.Samples = append(ms.Samples, groundtruth.Sample{T: int64(ts*1000 + 0.5), V: v})
		}
		out = append(out, ms)
	}
	return out
}
