package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fuzzPaths are the endpoints whose parameters FuzzAPIParams throws at.
var fuzzPaths = []string{
	"/api/v1/query",
	"/api/v1/query_range",
	"/api/v1/series",
	"/api/v1/labels",
	"/api/v1/label/job/values",
	"/api/v1/format_query",
	"/api/v1/query_exemplars",
	"/api/v1/rules",
	"/api/v1/targets",
	"/api/v1/metadata",
	"/api/v1/targets/metadata",
}

// FuzzAPIParams sends arbitrary query strings (times, durations, steps,
// matchers, match[], limits, dedup switches) to the API over real stores.
// Whatever arrives, the answer is a Prometheus envelope: a success, or an
// error whose type and HTTP status agree, never a 500.
func FuzzAPIParams(f *testing.F) {
	for _, seed := range []struct {
		path  uint8
		query string
	}{
		{0, "query=up&time=1800"},
		{0, "query=sum(rate(up[5m]))by(job)&time=2024-01-01T00:00:00Z&dedup=false"},
		{0, "query=up&time=1e400&timeout=1s"},
		{1, "query=up&start=0&end=3600&step=15s"},
		{1, "query=up&start=3600&end=0&step=15"},
		{1, "query=up&start=-1e18&end=1e18&step=0.001"},
		{2, "match[]=up{job=~\"j.*\"}&start=0&end=3600&limit=2"},
		{2, "match[]={__name__=\"up\",replica!=\"a\"}&storeMatch[]={replica=\"b\"}"},
		{3, "start=0&end=60&match[]=up&replicaLabels[]=replica&partial_response=false"},
		{4, "match[]=up{job=\"j1\"}&limit=-1"},
		{5, "query=foo{a=\"b\"}[5m:1m]%20offset%201h"},
		{6, "query=up&start=1700000000000&end=1700003600000"},
		{0, "query=up&lookback_delta=1ms&stats=all"},
		{7, "type=alert&rule_name[]=x&match[]={a=\"b\"}&exclude_alerts=true&dedup=false"},
		{8, "state=dropped&scrapePool=x&storeMatch[]={replica=\"a\"}"},
		{9, "metric=up&limit=-5&limit_per_metric=1"},
		{10, "match_target={job=\"x\"}&metric=up&limit=3"},
	} {
		f.Add(seed.path, seed.query)
	}
	s := startStack(f, stackOptions{stores: replicaStores(), engineTimeout: 2 * time.Second})
	client := &http.Client{Timeout: 30 * time.Second}
	statusOf := map[string]int{"bad_data": 400, "execution": 422, "timeout": 503, "canceled": 499}

	f.Fuzz(func(t *testing.T, path uint8, query string) {
		if strings.IndexFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return // not a request line any client could send
		}
		u := s.url + fuzzPaths[int(path)%len(fuzzPaths)] + "?" + query
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return // not a URL any client could send
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Status    string `json:"status"`
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("GET %s: %d, not an envelope: %.200s", u, resp.StatusCode, body)
		}
		switch env.Status {
		case "success":
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: success with %d", u, resp.StatusCode)
			}
		case "error":
			want, ok := statusOf[env.ErrorType]
			if !ok || resp.StatusCode != want {
				t.Fatalf("GET %s: %d %s: %s", u, resp.StatusCode, env.ErrorType, env.Error)
			}
		default:
			t.Fatalf("GET %s: status %q", u, env.Status)
		}
	})
}
