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

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// stackCluster is one cluster of the stack tests: an HA pair of real
// Prometheus servers with generated history, their sidecars, and a Tandem
// and a Thanos query over the two.
type stackCluster struct {
	ds             *groundtruth.Dataset
	sidecars       []string
	tandem, thanos string // Store API addresses of the cluster's queries

	tandemProc, thanosProc *e2etest.Process
}

func startStackCluster(t *testing.T, name string, seed uint64, tandemArgs ...string) stackCluster {
	t.Helper()
	cfg := groundtruth.DefaultConfig()
	cfg.Seed = seed
	ds, err := groundtruth.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := stackCluster{ds: ds}
	for r := range ds.Replicas {
		var om bytes.Buffer
		if err := ds.WriteOpenMetrics(&om, r, ""); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		promtest.CreateBlocks(t, dir, om.String())
		p := promtest.Start(t, promtest.Config{DataDir: dir, ExternalLabels: map[string]string{"cluster": name, "replica": replicaName(r)}})
		c.sidecars = append(c.sidecars, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	c.tandemProc, c.thanosProc = tandemQuery(t, c.sidecars, tandemArgs...), thanosQuery(t, c.sidecars)
	c.tandem, c.thanos = c.tandemProc.GRPC, c.thanosProc.GRPC
	return c
}

func tandemQuery(t *testing.T, endpoints []string, args ...string) *e2etest.Process {
	return e2etest.Query(t, endpoints, append([]string{"--query.replica-label=replica"}, args...)...)
}

func thanosQuery(t *testing.T, endpoints []string, args ...string) *e2etest.Process {
	p := e2etest.ThanosQuery(t, endpoints, append([]string{"--query.replica-label=replica"}, args...)...)
	p.WaitHealthyStores(len(endpoints), time.Minute)
	return p
}

// TestStackedQueriesAnswerAsOneQuery puts queries over queries, Tandem's and
// Thanos's in every mix, two and three levels deep over two clusters of HA
// pairs with outages and missed scrapes, and asks each top what a user asks:
// every answer must equal what one query of the same kind over all four
// sidecars answers, value for value, and the top's dedup must fill one
// replica's gaps from the other as well as that flat query does against
// the ground truth.
func TestStackedQueriesAnswerAsOneQuery(t *testing.T) {
	clusters := []stackCluster{startStackCluster(t, "c0", 1), startStackCluster(t, "c1", 2)}
	all := slices.Concat(clusters[0].sidecars, clusters[1].sidecars)
	tandemFlat := "http://" + tandemQuery(t, all).HTTP
	thanosFlat := "http://" + thanosQuery(t, all).HTTP

	tandemMid := tandemQuery(t, []string{clusters[0].tandem, clusters[1].tandem}).GRPC
	thanosMid := thanosQuery(t, []string{clusters[0].tandem, clusters[1].tandem}).GRPC
	tandemOverThanosLeaves := tandemQuery(t, []string{clusters[0].thanos, clusters[1].thanos}).GRPC
	stacks := []struct {
		name string
		top  string // HTTP base
		flat string // the flat query of the top's kind
	}{
		{"tandem over tandem", "http://" + tandemQuery(t, []string{clusters[0].tandem, clusters[1].tandem}).HTTP, tandemFlat},
		{"tandem over thanos", "http://" + tandemQuery(t, []string{clusters[0].thanos, clusters[1].thanos}).HTTP, tandemFlat},
		{"tandem over tandem and thanos", "http://" + tandemQuery(t, []string{clusters[0].tandem, clusters[1].thanos}).HTTP, tandemFlat},
		{"thanos over tandem", "http://" + thanosQuery(t, []string{clusters[0].tandem, clusters[1].tandem}).HTTP, thanosFlat},
		{"tandem over tandem over tandem", "http://" + tandemQuery(t, []string{tandemMid}).HTTP, tandemFlat},
		{"tandem over thanos over tandem", "http://" + tandemQuery(t, []string{thanosMid}).HTTP, tandemFlat},
		{"thanos over tandem over thanos", "http://" + thanosQuery(t, []string{tandemOverThanosLeaves}).HTTP, thanosFlat},
	}

	ds := clusters[0].ds
	end := formatTime(ds.End + time.Minute.Milliseconds())
	rangeParams := func(query, step string) url.Values {
		return url.Values{"query": {query}, "start": {formatTime(ds.Start)}, "end": {formatTime(ds.End)}, "step": {step}}
	}
	requests := []struct {
		name   string
		path   string
		params url.Values
	}{
		{"samples per cluster", "/api/v1/query", url.Values{"query": {`sum by (cluster) (count_over_time(` + groundtruth.CounterName + `[6h1m]))`}, "time": {end}}},
		{"raw samples", "/api/v1/query", url.Values{"query": {`{__name__=~"tandem_gt_.+"}[6h1m]`}, "time": {end}}},
		{"raw samples, dedup off", "/api/v1/query", url.Values{"query": {`{__name__=~"tandem_gt_.+"}[6h1m]`}, "time": {end}, "dedup": {"false"}}},
		{"rate", "/api/v1/query_range", rangeParams("rate("+groundtruth.CounterName+"[1m])", "15")},
		{"sum of rates", "/api/v1/query_range", rangeParams("sum by (cluster) (rate("+groundtruth.CounterName+"[5m]))", "60")},
		{"gauge", "/api/v1/query_range", rangeParams("max_over_time("+groundtruth.GaugeName+"[2m])", "30")},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	answer := func(t *testing.T, base, path string, params url.Values) []string {
		t.Helper()
		r := e2etest.API(ctx, t, base, path, params)
		if r.Status != "success" || len(r.Warnings) > 0 {
			t.Fatalf("%s%s: %s %s %s, warnings %q", base, path, r.Status, r.ErrorType, r.Error, r.Warnings)
		}
		return canonical(t, r.Data)
	}
	flat := map[string][]string{}
	for _, f := range []string{tandemFlat, thanosFlat} {
		for _, req := range requests {
			flat[f+req.name] = answer(t, f, req.path, req.params)
		}
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			for _, req := range requests {
				got, want := answer(t, st.top, req.path, req.params), flat[st.flat+req.name]
				if len(want) == 0 {
					t.Fatalf("%s: the flat query answered nothing", req.name)
				}
				if d := firstDifference(got, want); d != "" {
					t.Errorf("%s: %d series, flat %d; %s", req.name, len(got), len(want), d)
				}
			}
			if st.flat != tandemFlat {
				return
			}
			// Equal answers are equally good; this says how good.
			for i, c := range clusters {
				acc := clusterRateAccuracy(ctx, t, st.top, c.ds, fmt.Sprintf("c%d", i))
				t.Logf("cluster c%d rate: points=%d missing=%d off>50%%=%d p99=%.4f", i, acc.Points, acc.Missing, acc.Off50, acc.P99)
				if acc.Points < 30_000 || acc.Missing > 0 || acc.P99 > 0.10 {
					t.Errorf("cluster c%d: rate through the stack: %d points, %d missing, p99 %.4f", i, acc.Points, acc.Missing, acc.P99)
				}
			}
		})
	}
}

// clusterRateAccuracy judges base's deduplicated rate of one cluster's
// counters against that cluster's ground truth.
func clusterRateAccuracy(ctx context.Context, t *testing.T, base string, ds *groundtruth.Dataset, cluster string) groundtruth.Accuracy {
	t.Helper()
	byInstance := map[string][]groundtruth.Sample{}
	query := `rate(` + groundtruth.CounterName + `{cluster="` + cluster + `"}[1m])`
	for _, s := range rangeQuery(ctx, t, base, query, ds, true) {
		byInstance[s.Labels.Get("instance")] = s.Samples
	}
	return ds.RateAccuracy(byInstance, rateWindow, rateStep)
}

// canonical turns a query result into one line per series, sorted.
func canonical(t *testing.T, data json.RawMessage) []string {
	t.Helper()
	series := decodeResult(t, data)
	out := make([]string, 0, len(series))
	for _, s := range series {
		out = append(out, fmt.Sprint(s.Metric, " ", s.Value, s.Values))
	}
	slices.Sort(out)
	return out
}

// resultSeries is one series of a query result as the API writes it: an
// instant vector's value or a matrix's values.
type resultSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
	Values [][]any           `json:"values"`
}

func decodeResult(t *testing.T, data json.RawMessage) []resultSeries {
	t.Helper()
	var d struct {
		Result []resultSeries `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d.Result
}

// firstDifference describes where two canonical answers first differ, or
// returns "" if they are equal.
func firstDifference(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("series %d:\n got %.600s\nflat %.600s", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return "one answer has more series " + strconv.Itoa(abs(len(got)-len(want)))
	}
	return ""
}

func abs(n int) int { return max(n, -n) }
