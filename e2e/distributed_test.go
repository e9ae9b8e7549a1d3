package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/groundtruth"
)

// TestDistributedQueriesAnswerAsOneQuery runs Thanos's distributed engine
// in both directions: a Thanos v0.42 root in distributed mode over Tandem
// leaf queries, and a Tandem root in distributed mode over Thanos leaves
// and over Tandem leaves (one on Prometheus's engine, which evaluates the
// query strings, one on Thanos's, which evaluates the plans), over two
// clusters of HA pairs with outages and missed scrapes, and a Tandem root
// over one cluster's leaf and the other's sidecars. Every shape the
// engine pushes down (sum, count, min, max, avg, topk, with rate inside)
// and some it keeps at the root must answer what the flat query over the
// four sidecars answers. The leaves merge the replicas, so that is the
// flat query of the leaves' kind: Thanos's merge differs from Tandem's.
func TestDistributedQueriesAnswerAsOneQuery(t *testing.T) {
	c0 := startStackCluster(t, "c0", 1)
	c1 := startStackCluster(t, "c1", 2, "--query.promql-engine=thanos")
	all := slices.Concat(c0.sidecars, c1.sidecars)
	tandemFlat := "http://" + tandemQuery(t, all).HTTP
	thanosFlat := "http://" + thanosQuery(t, all).HTTP
	distributed := []string{"--query.mode=distributed"}
	thanosRoot := "http://" + thanosQuery(t, []string{c0.tandem, c1.tandem}, distributed...).HTTP
	tandemLeaves := []*e2etest.Process{c0.tandemProc, c1.tandemProc}
	thanosLeaves := []*e2etest.Process{c0.thanosProc, c1.thanosProc}

	ds := c0.ds
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stacks := []struct {
		name   string
		top    string
		leaves []*e2etest.Process
		flat   string
		// from is where the range queries start: a Thanos root cuts the
		// first minutes of a leaf whose data begins later (see the
		// subtest "thanos root, from the first sample").
		from int64
	}{
		{"thanos root over tandem leaves", thanosRoot, tandemLeaves, tandemFlat, ds.Start + 10*time.Minute.Milliseconds()},
		{"tandem root over thanos leaves", "http://" + tandemQuery(t, []string{c0.thanos, c1.thanos}, distributed...).HTTP, thanosLeaves, thanosFlat, ds.Start},
		{"tandem root over tandem leaves", "http://" + tandemQuery(t, []string{c0.tandem, c1.tandem}, distributed...).HTTP, tandemLeaves, tandemFlat, ds.Start},
		// c1's sidecars serve no Query API: the root evaluates them itself.
		{"tandem root over a tandem leaf and sidecars", "http://" + tandemQuery(t, append([]string{c0.tandem}, c1.sidecars...), distributed...).HTTP, tandemLeaves[:1], tandemFlat, ds.Start},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			before := queryAPICalls(t, st.leaves)
			for _, req := range distributedRequests(ds, st.from) {
				got, want := answer(ctx, t, st.top, req), answer(ctx, t, st.flat, req)
				if len(want) == 0 {
					t.Fatalf("%s: the flat query answered nothing", req.name)
				}
				exact, close, diff := compareResults(got, want)
				if diff != "" {
					t.Errorf("%s: %s", req.name, diff)
					continue
				}
				t.Logf("%s: %d series, %d points equal, %d within 1e-9", req.name, len(want), exact, close)
			}
			// Every shape has a part that the leaves evaluate.
			if calls := queryAPICalls(t, st.leaves) - before; calls < float64(len(distributedRequests(ds, st.from))) {
				t.Errorf("the leaves served %v Query API calls, want at least one per request", calls)
			}
		})
	}

	// A Thanos root asks a leaf whose oldest sample is later than another
	// leaf's only from that sample plus the selection's look-back on (its
	// engine splits the range in time as if the leaves held one partition
	// at different ages), and leaves it out of an instant query whose
	// look-back reaches before that sample. A Tandem root gives a leaf
	// that shares its partition with no other the whole range, as the flat
	// query reads it (above).
	t.Run("thanos root, from the first sample", func(t *testing.T) {
		later, oldestName, laterName := c1, "c0", "c1"
		if minTime(t, c0.tandemProc) > minTime(t, c1.tandemProc) {
			later, oldestName, laterName = c0, "c1", "c0"
		}
		cut := float64(minTime(t, later.tandemProc)+(5*time.Minute).Milliseconds()) / 1000
		req := apiRequest{"sum by cluster", "/api/v1/query_range", url.Values{
			"query": {"sum by (cluster) (rate(" + groundtruth.CounterName + "[5m]))"},
			"start": {formatTime(ds.Start)}, "end": {formatTime(ds.End)}, "step": {"60"}}}
		got, want := answer(ctx, t, thanosRoot, req), answer(ctx, t, tandemFlat, req)
		oldestKey, laterKey := fmt.Sprint(map[string]string{"cluster": oldestName}), fmt.Sprint(map[string]string{"cluster": laterName})
		if _, _, diff := compareResults(resultSet{oldestKey: got[oldestKey]}, resultSet{oldestKey: want[oldestKey]}); diff != "" {
			t.Errorf("%s, the oldest leaf, differs from the flat query: %s", oldestName, diff)
		}
		var wantSteps, gotSteps []float64
		for _, p := range want[laterKey] {
			if p.t >= cut {
				wantSteps = append(wantSteps, p.t)
			}
		}
		for _, p := range got[laterKey] {
			gotSteps = append(gotSteps, p.t)
		}
		if !slices.Equal(gotSteps, wantSteps) || len(wantSteps) == len(want[laterKey]) {
			t.Errorf("%s: %d steps, want the flat query's %d less the %d before its first sample + 5m (%v)",
				laterName, len(gotSteps), len(want[laterKey]), len(want[laterKey])-len(wantSteps), cut)
		}
		// The leaf merges its replicas from where it is asked to begin, so
		// it may follow the other replica than the flat query does from
		// there on: the values differ, but are as true.
		acc := clusterRateAccuracy(ctx, t, thanosRoot, later.ds, laterName)
		flatAcc := clusterRateAccuracy(ctx, t, tandemFlat, later.ds, laterName)
		t.Logf("%s rate through the thanos root: points=%d missing=%d off>50%%=%d p99=%.4f; flat: points=%d missing=%d off>50%%=%d p99=%.4f",
			laterName, acc.Points, acc.Missing, acc.Off50, acc.P99, flatAcc.Points, flatAcc.Missing, flatAcc.Off50, flatAcc.P99)
		if maxMissing := len(later.ds.Targets) * int(cut*1000-float64(ds.Start)) / int(rateStep.Milliseconds()); acc.Missing > flatAcc.Missing+maxMissing || acc.P99 > 0.10 {
			t.Errorf("%s rate through the thanos root: %d points missing (flat %d, cut %d), p99 %.4f", laterName, acc.Missing, flatAcc.Missing, maxMissing, acc.P99)
		}

		inst := apiRequest{"samples per cluster", "/api/v1/query", url.Values{
			"query": {"sum by (cluster) (count_over_time(" + groundtruth.CounterName + "[6h1m]))"},
			"time":  {formatTime(ds.End + time.Minute.Milliseconds())}}}
		got, want = answer(ctx, t, thanosRoot, inst), answer(ctx, t, tandemFlat, inst)
		delete(want, laterKey)
		if _, _, diff := compareResults(got, want); diff != "" {
			t.Errorf("instant over the whole history: not the flat answer less %s: %s", laterName, diff)
		}
	})
}

// apiRequest is one HTTP API call of a test.
type apiRequest struct {
	name   string
	path   string
	params url.Values
}

// distributedRequests are the shapes the engine distributes and some it
// does not, over the dataset from from on.
func distributedRequests(ds *groundtruth.Dataset, from int64) []apiRequest {
	const counter, gauge = groundtruth.CounterName, groundtruth.GaugeName
	shapes := []struct{ name, query string }{
		// Pushed down.
		{"sum", "sum(rate(" + counter + "[5m]))"},
		{"sum by cluster", "sum by (cluster) (rate(" + counter + "[5m]))"},
		{"sum by instance", "sum by (instance) (rate(" + counter + "[5m]))"},
		{"count", "count(" + counter + ")"},
		{"min by cluster", "min by (cluster) (rate(" + counter + "[5m]))"},
		{"max", "max(rate(" + counter + "[5m]))"},
		{"avg", "avg(rate(" + counter + "[5m]))"},
		{"topk", "topk(3, rate(" + counter + "[5m]))"},
		{"rate", "rate(" + counter + "[1m])"},
		// Kept at the root, over what the leaves send.
		{"quantile", "quantile(0.9, rate(" + counter + "[5m]))"},
		{"stddev", "stddev(" + gauge + ")"},
		{"count_values", "count_values(\"le\", floor(" + gauge + " / 10))"},
	}
	var reqs []apiRequest
	for _, sh := range shapes {
		reqs = append(reqs, apiRequest{sh.name, "/api/v1/query_range", url.Values{
			"query": {sh.query}, "start": {formatTime(from)}, "end": {formatTime(ds.End)}, "step": {"60"}}})
	}
	// The window of the first reaches back to from.
	end := ds.End + time.Minute.Milliseconds()
	window := model.Duration(time.Duration(end-from) * time.Millisecond).String()
	return append(reqs,
		apiRequest{"samples per cluster, instant", "/api/v1/query", url.Values{
			"query": {"sum by (cluster) (count_over_time(" + counter + "[" + window + "]))"}, "time": {formatTime(end)}}},
		apiRequest{"sum by cluster, instant", "/api/v1/query", url.Values{
			"query": {"sum by (cluster) (rate(" + counter + "[5m]))"}, "time": {formatTime(ds.Start + 3*time.Hour.Milliseconds())}}},
	)
}

func answer(ctx context.Context, t *testing.T, base string, req apiRequest) resultSet {
	t.Helper()
	r := e2etest.API(ctx, t, base, req.path, req.params)
	if r.Status != "success" || len(r.Warnings) > 0 {
		t.Fatalf("%s%s %s: %s %s %s, warnings %q", base, req.path, req.params.Get("query"), r.Status, r.ErrorType, r.Error, r.Warnings)
	}
	return parseResult(t, r.Data)
}

// queryAPICalls sums the Query API calls the processes have answered.
func queryAPICalls(t *testing.T, ps []*e2etest.Process) float64 {
	t.Helper()
	var n float64
	for _, p := range ps {
		for _, method := range []string{"Query", "QueryRange"} {
			v, _ := p.Metric("grpc_server_handled_total", "grpc_service", "thanos.Query", "grpc_method", method, "grpc_code", "OK")
			n += v
		}
	}
	return n
}

// minTime is the latest oldest sample of the stores of a query: where a
// distributed engine above takes the query's data to begin.
func minTime(t *testing.T, p *e2etest.Process) int64 {
	t.Helper()
	var latest int64 = math.MinInt64
	for _, s := range p.Stores() {
		latest = max(latest, s.MinTime)
	}
	return latest
}

// resultSet is a query answer: each series' points by its labels.
type resultSet map[string][]resultPoint

type resultPoint struct {
	t float64
	v string
}

func parseResult(t *testing.T, data json.RawMessage) resultSet {
	t.Helper()
	out := resultSet{}
	for _, s := range decodeResult(t, data) {
		key := fmt.Sprint(s.Metric)
		values := s.Values
		if s.Value != nil {
			values = [][]any{s.Value}
		}
		for _, v := range values {
			out[key] = append(out[key], resultPoint{t: v[0].(float64), v: v[1].(string)})
		}
	}
	return out
}

// compareResults counts the points of got equal to want's and those equal
// up to a relative 1e-9 (sums added in another order), and describes the
// first difference beyond that.
func compareResults(got, want resultSet) (exact, close int, diff string) {
	keys := func(r resultSet) []string {
		ks := make([]string, 0, len(r))
		for k := range r {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if g, w := keys(got), keys(want); !slices.Equal(g, w) {
		return 0, 0, fmt.Sprintf("series differ:\n got %.800s\nflat %.800s", strings.Join(g, " "), strings.Join(w, " "))
	}
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			return 0, 0, fmt.Sprintf("%s: %d points, flat %d", k, len(g), len(w))
		}
		for i := range w {
			if g[i].t != w[i].t {
				return 0, 0, fmt.Sprintf("%s: point %d at %v, flat at %v", k, i, g[i].t, w[i].t)
			}
			if g[i].v == w[i].v {
				exact++
				continue
			}
			a, _ := strconv.ParseFloat(g[i].v, 64)
			b, _ := strconv.ParseFloat(w[i].v, 64)
			if math.Abs(a-b) > 1e-9*max(math.Abs(a), math.Abs(b)) {
				return 0, 0, fmt.Sprintf("%s: at %v %s, flat %s", k, w[i].t, g[i].v, w[i].v)
			}
			close++
		}
	}
	return exact, close, ""
}
