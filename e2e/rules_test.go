package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
)

// livePair runs two Prometheus replicas (cluster="eu", replica="r0" and
// "r1") evaluating the same rules and scraping the same targets live.
func livePair(t *testing.T) (*promtest.Live, []*promtest.Server) {
	t.Helper()
	live := promtest.StartLive(t)
	var proms []*promtest.Server
	for r := range 2 {
		proms = append(proms, promtest.Start(t, live.Config(map[string]string{"cluster": "eu", "replica": fmt.Sprintf("r%d", r)})))
	}
	return live, proms
}

// apiCall is one request of the rules, alerts, targets, metadata and
// exemplars endpoints.
type apiCall struct {
	path   string
	params url.Values
}

func (c apiCall) String() string { return c.path + "?" + c.params.Encode() }

// normalized decodes an answer's data and replaces what differs from one
// evaluation or scrape to the next, and between the replicas: times
// become "time" (or "zero") and durations "duration" (or 0).
func normalized(t *testing.T, r e2etest.APIResponse) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	b, err := json.Marshal(normalize(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch k {
			case "lastEvaluation", "lastScrape", "activeAt":
				if s, _ := x.(string); strings.HasPrefix(s, "0001-") || s == "" {
					v[k] = "zero"
				} else {
					v[k] = "time"
				}
			case "evaluationTime", "lastScrapeDuration":
				if f, _ := x.(float64); f > 0 {
					v[k] = "duration"
				}
			default:
				v[k] = normalize(x)
			}
		}
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	}
	return v
}

// TestRulesTargetsMetadataExemplars runs two live Prometheus replicas with
// a sidecar of each kind, and asks the rules, alerts, targets, metadata
// and exemplars endpoints of every combination of Tandem's and Thanos's
// queries and sidecars, and of a Tandem and a Thanos query over a Tandem
// query, all at once: after normalising times and durations, each answers what Thanos's
// query over Thanos's sidecars answers.
func TestRulesTargetsMetadataExemplars(t *testing.T) {
	live, proms := livePair(t)
	var ours, theirs []string
	for _, p := range proms {
		ours = append(ours, e2etest.Sidecar(t, p.URL()).GRPC)
		theirs = append(theirs, e2etest.ThanosSidecar(t, p.URL()).GRPC)
	}
	replica := "--query.replica-label=replica"
	tandem := e2etest.Query(t, ours, replica)
	queries := map[string]*e2etest.Process{
		"Thanos over Thanos":        e2etest.ThanosQuery(t, theirs, replica),
		"Tandem over Tandem":        tandem,
		"Tandem over Thanos":        e2etest.Query(t, theirs, replica),
		"Thanos over Tandem":        e2etest.ThanosQuery(t, ours, replica),
		"Tandem over Tandem query":  e2etest.Query(t, []string{tandem.GRPC}, replica),
		"Thanos over Tandem query":  e2etest.ThanosQuery(t, []string{tandem.GRPC}, replica),
		"Thanos over Thanos, plain": e2etest.ThanosQuery(t, theirs),
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	get := func(q *e2etest.Process, c apiCall) e2etest.APIResponse {
		return e2etest.API(ctx, t, "http://"+q.HTTP, c.path, c.params)
	}

	// Until every replica has evaluated its rules, failed the broken one
	// and scraped its targets, the answers change.
	e2etest.WaitLive(t, "http://"+tandem.HTTP, len(proms))

	exemplarRange := url.Values{"start": {strconv.FormatInt(live.ExemplarTime/1000-60, 10)}, "end": {strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}}
	withRange := func(vs url.Values) url.Values {
		for k, v := range exemplarRange {
			vs[k] = v
		}
		return vs
	}
	calls := []apiCall{
		{"/api/v1/rules", url.Values{}},
		{"/api/v1/rules", url.Values{"type": {"alert"}}},
		{"/api/v1/rules", url.Values{"type": {"record"}}},
		{"/api/v1/rules", url.Values{"rule_name[]": {promtest.LiveFiringAlert, promtest.LiveBrokenRecord}}},
		{"/api/v1/rules", url.Values{"rule_group[]": {promtest.LiveBrokenGroup}}},
		{"/api/v1/rules", url.Values{"file[]": {live.RulesFile}}},
		{"/api/v1/rules", url.Values{"match[]": {`{severity="page"}`}}},
		{"/api/v1/alerts", url.Values{}},
		{"/api/v1/targets", url.Values{}},
		{"/api/v1/targets", url.Values{"state": {"active"}}},
		{"/api/v1/targets", url.Values{"state": {"dropped"}}},
		{"/api/v1/metadata", url.Values{}},
		{"/api/v1/metadata", url.Values{"metric": {"rpc_duration_seconds"}}},
		{"/api/v1/query_exemplars", withRange(url.Values{"query": {"rpc_requests_total"}})},
		{"/api/v1/query_exemplars", withRange(url.Values{"query": {`sum(rate(rpc_duration_seconds_bucket{cluster="eu"}[1m])) by (le)`}})},
	}
	// Thanos's query reads no dedup parameter on these endpoints: without
	// replica labels it keeps every replica's copy, as dedup=false does.
	type pair struct{ query, params string }
	var (
		mu      sync.Mutex
		answers = map[pair]string{}
		errs    []string
	)
	ask := func(name string, q *e2etest.Process, c apiCall, dedup bool) {
		key := pair{name, fmt.Sprint(c, dedup)}
		if strings.HasPrefix(name, "Tandem") {
			c.params = url.Values(mapsClone(c.params))
			c.params.Set("dedup", strconv.FormatBool(dedup))
		}
		r := get(q, c)
		mu.Lock()
		defer mu.Unlock()
		if r.Status != "success" || len(r.Warnings) > 0 {
			errs = append(errs, fmt.Sprintf("%s %s: %d %s %s, warnings %v", name, c, r.Code, r.ErrorType, r.Error, r.Warnings))
			return
		}
		answers[key] = normalized(t, r)
	}
	wait.Until(t, 30*time.Second, "equal answers", func() error {
		clear(answers)
		errs = nil
		// Every call to every query at once, as a dashboard asks.
		var wg sync.WaitGroup
		for _, c := range calls {
			for name, q := range queries {
				for _, dedup := range []bool{true, false} {
					if strings.HasPrefix(name, "Thanos") && strings.HasSuffix(name, "plain") != !dedup {
						continue
					}
					wg.Go(func() { ask(name, q, c, dedup) })
				}
			}
		}
		wg.Wait()
		if len(errs) > 0 {
			return fmt.Errorf("%d calls failed, e.g. %s", len(errs), errs[0])
		}
		for _, c := range calls {
			for _, dedup := range []bool{true, false} {
				refName := "Thanos over Thanos"
				if !dedup {
					refName += ", plain"
				}
				ref := answers[pair{refName, fmt.Sprint(c, dedup)}]
				for name := range queries {
					if got, ok := answers[pair{name, fmt.Sprint(c, dedup)}]; ok && got != ref {
						return fmt.Errorf("%s %s dedup=%v:\n%s\n%s:\n%s", name, c, dedup, got, refName, ref)
					}
				}
			}
		}
		return nil
	})

	t.Run("what the answers hold", func(t *testing.T) {
		for _, tc := range []struct {
			call apiCall
			want []string
			// Alert instances and metadata carry no external labels.
			noReplicas bool
		}{
			{apiCall{"/api/v1/alerts", url.Values{}}, []string{`"alertname":"AlwaysFiring"`, `"summary":"Fires as long as rules are evaluated"`, `"state":"firing"`}, true},
			{apiCall{"/api/v1/rules", url.Values{}}, []string{`"health":"err"`, `same labelset after applying rule labels`, `"name":"NeverFiring"`}, false},
			{apiCall{"/api/v1/targets", url.Values{}}, []string{`"scrapePool":"app"`, `"health":"down"`, `"__address__":"` + promtest.LiveDroppedAddr + `"`}, false},
			{apiCall{"/api/v1/metadata", url.Values{}}, []string{`"room_temperature_celsius":[{"help":"Temperature in the lab.","type":"gauge","unit":"celsius"}]`}, true},
			{apiCall{"/api/v1/query_exemplars", withRange(url.Values{"query": {"rpc_requests_total"}})}, []string{`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`}, false},
		} {
			got := answers[pair{"Tandem over Tandem", fmt.Sprint(tc.call, true)}]
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s does not hold %s", tc.call, got, w)
				}
			}
			if strings.Contains(got, `"replica"`) {
				t.Errorf("%s deduplicated still names a replica: %s", tc.call, got)
			}
			if all := answers[pair{"Tandem over Tandem", fmt.Sprint(tc.call, false)}]; !tc.noReplicas && (!strings.Contains(all, `"replica":"r0"`) || !strings.Contains(all, `"replica":"r1"`)) {
				t.Errorf("%s with dedup=false does not name both replicas: %s", tc.call, all)
			}
		}
	})

	t.Run("filters Thanos does not have", func(t *testing.T) {
		for _, tc := range []struct {
			call       apiCall
			want, none []string
		}{
			{apiCall{"/api/v1/targets", url.Values{"scrapePool": {promtest.LiveAppJob}}},
				[]string{`"scrapePool":"app"`, promtest.LiveDroppedAddr}, []string{`"scrapePool":"down"`}},
			{apiCall{"/api/v1/targets", url.Values{"scrapePool": {promtest.LiveDownJob}}},
				[]string{`"scrapePool":"down"`}, []string{`"scrapePool":"app"`, promtest.LiveDroppedAddr}},
			{apiCall{"/api/v1/rules", url.Values{"exclude_alerts": {"true"}}},
				[]string{`"name":"AlwaysFiring"`, `"alerts":[]`}, []string{`"alertname"`}},
			{apiCall{"/api/v1/metadata", url.Values{"metric": {"rpc_requests"}, "limit_per_metric": {"1"}}},
				[]string{`{"rpc_requests":[{"type":"counter","help":"Requests served.","unit":""}]}`}, nil},
		} {
			r := get(tandem, tc.call)
			got := string(r.Data)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s does not hold %s", tc.call, got, w)
				}
			}
			for _, w := range tc.none {
				if strings.Contains(got, w) {
					t.Errorf("%s: %s holds %s", tc.call, got, w)
				}
			}
		}
	})

	t.Run("target metadata", func(t *testing.T) {
		// Thanos has no such API: Tandem's sidecars and queries serve it.
		metric := url.Values{"metric": {"rpc_requests"}}
		want := `[{"target":{"cluster":"eu","instance":"` + live.App + `","job":"app"},"type":"counter","help":"Requests served.","unit":""}]`
		for _, name := range []string{"Tandem over Tandem", "Tandem over Tandem query"} {
			r := get(queries[name], apiCall{"/api/v1/targets/metadata", metric})
			if r.Status != "success" || len(r.Warnings) > 0 || string(r.Data) != want {
				t.Errorf("%s: %s %v, warnings %q; want %s", name, r.Data, r.Error, r.Warnings, want)
			}
		}
		all := get(tandem, apiCall{"/api/v1/targets/metadata", url.Values{"dedup": {"false"}, "match_target": {`{job="app"}`}}})
		var entries []struct {
			Target map[string]string `json:"target"`
			Metric string            `json:"metric"`
		}
		if err := json.Unmarshal(all.Data, &entries); err != nil || len(entries) != 6 || entries[0].Target["replica"] != "r0" || entries[5].Target["replica"] != "r1" {
			t.Errorf("without dedup: %s, want the app's three metrics from each replica", all.Data)
		}
		r := get(queries["Tandem over Thanos"], apiCall{"/api/v1/targets/metadata", metric})
		if string(r.Data) != "[]" || len(r.Warnings) != 2 || !strings.Contains(r.Warnings[0], "serves targets but not their metadata") {
			t.Errorf("over Thanos's sidecars: %s, warnings %q; want none, and a warning naming each", r.Data, r.Warnings)
		}
	})

	t.Run("metadata limit", func(t *testing.T) {
		// Which metrics is up to each Prometheus, as it is in Prometheus.
		for _, limit := range []int{0, 1, 2} {
			var md map[string][]any
			if err := json.Unmarshal(get(tandem, apiCall{"/api/v1/metadata", url.Values{"limit": {strconv.Itoa(limit)}}}).Data, &md); err != nil || len(md) != limit {
				t.Errorf("limit=%d: %d metrics (%v)", limit, len(md), err)
			}
		}
	})

	t.Run("no source left", func(t *testing.T) {
		for _, p := range proms {
			p.Stop()
		}
		// Once the query's Info calls find the sidecars unready, the
		// answer is Prometheus's empty one, with a warning naming both.
		wait.Until(t, 30*time.Second, "empty answers naming both sidecars", func() error {
			for _, c := range []apiCall{{"/api/v1/rules", url.Values{}}, {"/api/v1/targets", url.Values{}}} {
				r := get(tandem, c)
				if r.Status != "success" {
					return fmt.Errorf("%s: %s %s", c, r.ErrorType, r.Error)
				}
				if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unhealthy: ") ||
					!strings.Contains(r.Warnings[0], ours[0]) || !strings.Contains(r.Warnings[0], ours[1]) {
					return fmt.Errorf("%s: warnings %q, want one naming %s unhealthy", c, r.Warnings, ours)
				}
				if want := map[string]string{"/api/v1/rules": `{"groups":[]}`, "/api/v1/targets": `{"activeTargets":[],"droppedTargets":[]}`}[c.path]; string(r.Data) != want {
					return fmt.Errorf("%s: %s, want %s", c, r.Data, want)
				}
			}
			return nil
		})
		// As Series, a store known to be unhealthy is left out, not failed.
		if r := get(tandem, apiCall{"/api/v1/rules", url.Values{"partial_response": {"false"}}}); r.Status != "success" || len(r.Warnings) != 1 {
			t.Errorf("partial_response=false with no store left: %d %s %s, warnings %q", r.Code, r.ErrorType, r.Error, r.Warnings)
		}
	})
}

func mapsClone(v url.Values) map[string][]string {
	out := make(map[string][]string, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
