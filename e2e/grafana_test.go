package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// grafanaParams are the custom query parameters the datasource provisioning
// in deploy/grafana sets; Grafana appends them to every request's URL.
var grafanaParams = url.Values{"dedup": {"true"}, "partial_response": {"true"}}

// TestGrafanaDatasource makes the calls Grafana's Prometheus datasource
// (Prometheus type "Thanos") makes, the way it makes them, and checks each
// answer has the shape Grafana reads.
func TestGrafanaDatasource(t *testing.T) {
	// The replicas hold the fixture's history and evaluate rules and
	// scrape targets live, so each call has data to return.
	live := promtest.StartLive(t)
	var proms []*promtest.Server
	for r := range 2 {
		dir := t.TempDir()
		promtest.CreateBlocks(t, dir, replicaData())
		cfg := live.Config(map[string]string{"cluster": "eu", "replica": fmt.Sprintf("r%d", r)})
		cfg.DataDir = dir
		proms = append(proms, promtest.Start(t, cfg))
	}
	var endpoints []string
	for _, p := range proms {
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	q := e2etest.Query(t, endpoints, "--query.replica-label=replica")
	base := "http://" + q.HTTP
	e2etest.WaitLive(t, base, len(proms))
	start := strconv.FormatInt(base2(0).Unix(), 10)
	end := strconv.FormatInt(base2(samples).Unix(), 10)
	startMs := strconv.FormatInt(base2(0).UnixMilli(), 10)
	endMs := strconv.FormatInt(base2(samples).UnixMilli(), 10)

	for _, tc := range []struct {
		name   string
		method string
		path   string
		params url.Values // in the body for POST, in the URL for GET
		code   int
		// check inspects the decoded data of a success.
		check func(t *testing.T, data json.RawMessage)
	}{
		{
			name: "save & test", method: http.MethodPost, path: "/api/v1/query",
			params: url.Values{"query": {"1+1"}, "time": {"4"}}, code: 200,
			check: equalJSON(`{"resultType":"scalar","result":[4,"2"]}`),
		},
		{
			name: "build info", method: http.MethodGet, path: "/api/v1/status/buildinfo", code: 200,
			check: func(t *testing.T, data json.RawMessage) {
				var info map[string]any
				if err := json.Unmarshal(data, &info); err != nil {
					t.Fatal(err)
				}
				if v, _ := info["version"].(string); !strings.Contains(v, ".") {
					t.Errorf("version %q is not a version Grafana can parse", v)
				}
				if _, ok := info["features"]; ok {
					t.Errorf("buildinfo has a features key: %s", data)
				}
			},
		},
		{
			name: "label names with match[]", method: http.MethodGet, path: "/api/v1/labels",
			params: url.Values{"match[]": {"http_requests_total"}, "start": {start}, "end": {end}}, code: 200,
			check: equalJSON(`["__name__","cluster","instance","job"]`),
		},
		{
			name: "label values by POST are refused", method: http.MethodPost, path: "/api/v1/label/job/values",
			params: url.Values{"start": {start}, "end": {end}}, code: http.StatusMethodNotAllowed,
		},
		{
			name: "label values with match[]", method: http.MethodGet, path: "/api/v1/label/instance/values",
			params: url.Values{"match[]": {`http_requests_total{instance=~"host-[01]"}`}, "start": {start}, "end": {end}}, code: 200,
			check: equalJSON(`["host-0","host-1"]`),
		},
		{
			name: "series with limit", method: http.MethodGet, path: "/api/v1/series",
			params: url.Values{"match[]": {`{__name__="http_requests_total"}`}, "start": {start}, "end": {end}, "limit": {"40000"}}, code: 200,
			check: func(t *testing.T, data json.RawMessage) {
				var series []map[string]string
				if err := json.Unmarshal(data, &series); err != nil {
					t.Fatal(err)
				}
				if len(series) != targets {
					t.Errorf("%d series, want %d deduplicated: %s", len(series), targets, data)
				}
			},
		},
		{
			name: "metadata", method: http.MethodGet, path: "/api/v1/metadata",
			params: url.Values{"limit": {"1"}}, code: 200,
			check: func(t *testing.T, data json.RawMessage) {
				var md map[string][]struct{ Type, Help string }
				if err := json.Unmarshal(data, &md); err != nil || len(md) != 1 {
					t.Fatalf("want one metric's metadata: %s", data)
				}
				for name, metas := range md {
					if len(metas) != 1 || metas[0].Type == "" || metas[0].Help == "" {
						t.Errorf("%s: %v, want its type and help", name, metas)
					}
				}
			},
		},
		{
			name: "metadata of one metric", method: http.MethodGet, path: "/api/v1/metadata",
			params: url.Values{"metric": {"rpc_requests"}}, code: 200,
			check: equalJSON(`{"rpc_requests":[{"type":"counter","help":"Requests served.","unit":""}]}`),
		},
		{
			name: "rules", method: http.MethodGet, path: "/api/v1/rules", code: 200,
			check: ruleNames(promtest.LiveBrokenGroup+": "+promtest.LiveBrokenRecord,
				promtest.LiveGroup+": "+promtest.LiveFiringAlert+" "+promtest.LiveSilentAlert+" "+promtest.LiveRecording),
		},
		{
			name: "alerting rules", method: http.MethodGet, path: "/api/v1/rules",
			params: url.Values{"type": {"alert"}}, code: 200,
			check: ruleNames(promtest.LiveGroup + ": " + promtest.LiveFiringAlert + " " + promtest.LiveSilentAlert),
		},
		{
			name: "exemplars probe in milliseconds", method: http.MethodGet, path: "/api/v1/query_exemplars",
			params: url.Values{"query": {"test"}, "start": {startMs}, "end": {endMs}}, code: 200,
			check: equalJSON(`[]`),
		},
		{
			name: "exemplars of a graph", method: http.MethodGet, path: "/api/v1/query_exemplars",
			params: url.Values{"query": {"histogram_quantile(0.9, sum by (le) (rate(rpc_duration_seconds_bucket[5m])))"},
				"start": {strconv.FormatInt(live.ExemplarTime/1000-600, 10)}, "end": {strconv.FormatInt(time.Now().Unix()+60, 10)}}, code: 200,
			check: func(t *testing.T, data json.RawMessage) {
				var series []struct {
					SeriesLabels map[string]string `json:"seriesLabels"`
					Exemplars    []struct {
						Labels map[string]string `json:"labels"`
					} `json:"exemplars"`
				}
				if err := json.Unmarshal(data, &series); err != nil || len(series) != 2 {
					t.Fatalf("want the exemplars of both buckets: %s", data)
				}
				for _, s := range series {
					if _, ok := s.SeriesLabels["replica"]; ok || len(s.Exemplars) != 1 || s.Exemplars[0].Labels["trace_id"] == "" {
						t.Errorf("series %v: want one exemplar with a trace_id, deduplicated", s)
					}
				}
			},
		},
		{
			name: "range query", method: http.MethodPost, path: "/api/v1/query_range",
			params: url.Values{"query": {"sum(rate(http_requests_total[5m]))"}, "start": {start}, "end": {end}, "step": {"60"}}, code: 200,
			check: func(t *testing.T, data json.RawMessage) {
				var m struct {
					ResultType string `json:"resultType"`
					Result     []struct {
						Values [][2]any `json:"values"`
					} `json:"result"`
				}
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				// Each target's counter grows by one per 15 s scrape.
				if m.ResultType != "matrix" || len(m.Result) != 1 || len(m.Result[0].Values) < 100 {
					t.Fatalf("not one long matrix series: %.300s", data)
				}
				if v := m.Result[0].Values[50][1]; v != strconv.FormatFloat(float64(targets)/15, 'f', -1, 64) {
					t.Errorf("sum of rates %v, want %d/15", v, targets)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := grafanaCall(t, tc.method, base+tc.path, tc.params)
			if code != tc.code {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, code, tc.code, body)
			}
			if tc.check == nil {
				return
			}
			var env struct {
				Status string          `json:"status"`
				Data   json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
				t.Fatalf("not a success envelope (%v): %s", err, body)
			}
			tc.check(t, env.Data)
		})
	}
}

// grafanaCall sends one request as Grafana does: custom parameters in the
// URL, the query's own in the URL (GET) or a form body (POST).
func grafanaCall(t *testing.T, method, u string, params url.Values) (int, []byte) {
	t.Helper()
	query := url.Values{}
	for k, v := range grafanaParams {
		query[k] = v
	}
	var body io.Reader
	if method == http.MethodGet {
		for k, v := range params {
			query[k] = v
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u+"?"+query.Encode(), body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func equalJSON(want string) func(*testing.T, json.RawMessage) {
	return func(t *testing.T, got json.RawMessage) {
		t.Helper()
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Errorf("data %s, want %s", got, want)
		}
	}
}

// ruleNames checks a rules answer: each group's name and its rules' names,
// as "group: rule rule ...".
func ruleNames(want ...string) func(*testing.T, json.RawMessage) {
	return func(t *testing.T, data json.RawMessage) {
		t.Helper()
		var rules struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name string `json:"name"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(data, &rules); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range rules.Groups {
			names := []string{}
			for _, r := range g.Rules {
				names = append(names, r.Name)
			}
			got = append(got, g.Name+": "+strings.Join(names, " "))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("rules %q, want %q", got, want)
		}
	}
}
