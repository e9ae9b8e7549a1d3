package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAPIParamsAndErrors(t *testing.T) {
	s := startStack(t, stackOptions{stores: replicaStores()})
	for _, tc := range []struct {
		name      string
		method    string
		path      string
		params    url.Values
		wantCode  int
		wantType  string // errorType, empty for success
		wantError string // substring of error
		wantData  string // exact data JSON, if set
	}{
		{
			name: "1+1 at time 4, no store covers 1970", path: "/api/v1/query",
			params:   url.Values{"query": {"1+1"}, "time": {"4"}},
			wantCode: 200, wantData: `{"resultType":"scalar","result":[4,"2"]}`,
		},
		{
			name: "form POST", method: http.MethodPost, path: "/api/v1/query",
			params:   url.Values{"query": {"1+1"}, "time": {"1970-01-01T00:00:04Z"}},
			wantCode: 200, wantData: `{"resultType":"scalar","result":[4,"2"]}`,
		},
		{
			name: "string result", path: "/api/v1/query",
			params:   url.Values{"query": {`"x"`}, "time": {"4.5"}},
			wantCode: 200, wantData: `{"resultType":"string","result":[4.5,"x"]}`,
		},
		{
			name: "empty vector is []", path: "/api/v1/query",
			params:   url.Values{"query": {"nothing_here"}, "time": {"100"}},
			wantCode: 200, wantData: `{"resultType":"vector","result":[]}`,
		},
		{
			name: "bad time", path: "/api/v1/query",
			params:   url.Values{"query": {"1"}, "time": {"yesterday"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "time": cannot parse "yesterday" to a valid timestamp`,
		},
		{
			name: "bad PromQL", path: "/api/v1/query",
			params:   url.Values{"query": {"sum(up"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "query": 1:7: parse error`,
		},
		{
			name: "bad PromQL, range", path: "/api/v1/query_range",
			params:   url.Values{"query": {"up{"}, "start": {"0"}, "end": {"60"}, "step": {"15"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "query"`,
		},
		{
			name: "bad timeout", path: "/api/v1/query",
			params:   url.Values{"query": {"1"}, "timeout": {"soon"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "timeout"`,
		},
		{
			name: "bad lookback_delta", path: "/api/v1/query",
			params:   url.Values{"query": {"1"}, "lookback_delta": {"x"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "lookback_delta"`,
		},
		{
			name: "bad dedup", path: "/api/v1/query",
			params:   url.Values{"query": {"1"}, "dedup": {"maybe"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "dedup"`,
		},
		{
			name: "bad storeMatch", path: "/api/v1/query",
			params:   url.Values{"query": {"1"}, "storeMatch[]": {"{"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "storeMatch[]"`,
		},
		{
			name: "step as duration", path: "/api/v1/query_range",
			params:   url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}, "step": {"30s"}},
			wantCode: 200, wantData: `{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[30,"1"],[60,"1"]]}]}`,
		},
		{
			name: "bad step", path: "/api/v1/query_range",
			params:   url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}, "step": {"often"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "step"`,
		},
		{
			name: "zero step", path: "/api/v1/query_range",
			params:   url.Values{"query": {"1"}, "start": {"0"}, "end": {"60"}, "step": {"0"}},
			wantCode: 400, wantType: "bad_data", wantError: "zero or negative query resolution step widths are not accepted",
		},
		{
			name: "end before start", path: "/api/v1/query_range",
			params:   url.Values{"query": {"1"}, "start": {"60"}, "end": {"0"}, "step": {"1"}},
			wantCode: 400, wantType: "bad_data", wantError: "end timestamp must not be before start time",
		},
		{
			name: "too many points", path: "/api/v1/query_range",
			params:   url.Values{"query": {"1"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}},
			wantCode: 400, wantType: "bad_data", wantError: "exceeded maximum resolution of 11,000 points per timeseries",
		},
		{
			name: "just enough points", path: "/api/v1/query_range",
			params:   url.Values{"query": {"vector(1)"}, "start": {"0"}, "end": {"11000"}, "step": {"1"}},
			wantCode: 200,
		},
		{
			name: "series without match[]", path: "/api/v1/series",
			wantCode: 400, wantType: "bad_data", wantError: "no match[] parameter provided",
		},
		{
			name: "series bad match[]", path: "/api/v1/series", params: url.Values{"match[]": {"up{"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "match[]"`,
		},
		{
			name: "labels bad start", path: "/api/v1/labels", params: url.Values{"start": {"x"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "start"`,
		},
		{
			name: "label values", path: "/api/v1/label/job/values",
			wantCode: 200, wantData: `["j0","j1","j2"]`,
		},
		{
			name: "label values with limit", path: "/api/v1/label/job/values", params: url.Values{"limit": {"2"}},
			wantCode: 200, wantData: `["j0","j1"]`,
		},
		{
			name: "bad limit", path: "/api/v1/labels", params: url.Values{"limit": {"-1"}},
			wantCode: 400, wantType: "bad_data", wantError: "limit",
		},
		{
			name: "labels, dedup hides the replica label", path: "/api/v1/labels",
			wantCode: 200, wantData: `["__name__","job"]`,
		},
		{
			name: "labels without dedup", path: "/api/v1/labels", params: url.Values{"dedup": {"false"}},
			wantCode: 200, wantData: `["__name__","job","replica"]`,
		},
		{
			name: "format_query", path: "/api/v1/format_query", params: url.Values{"query": {"sum(rate(up[5m]))by(job)"}},
			wantCode: 200, wantData: `"sum by (job) (rate(up[5m]))"`,
		},
		{
			name: "buildinfo has no features", path: "/api/v1/status/buildinfo",
			wantCode: 200,
		},
		{name: "rules", path: "/api/v1/rules", wantCode: 200, wantData: `{"groups":[]}`},
		{name: "alerts", path: "/api/v1/alerts", wantCode: 200, wantData: `{"alerts":[]}`},
		{name: "metadata", path: "/api/v1/metadata", wantCode: 200, wantData: `{}`},
		{name: "exemplars", path: "/api/v1/query_exemplars", params: url.Values{"query": {"up"}}, wantCode: 200, wantData: `[]`},
		{name: "exemplars of no selector", path: "/api/v1/query_exemplars", params: url.Values{"query": {"1+1"}}, wantCode: 200, wantData: `[]`},
		{
			name: "exemplars bad query", path: "/api/v1/query_exemplars", params: url.Values{"query": {"up{"}},
			wantCode: 400, wantType: "bad_data", wantError: "unexpected end of input",
		},
		{
			name: "exemplars end before start", path: "/api/v1/query_exemplars", params: url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}},
			wantCode: 400, wantType: "bad_data", wantError: "end timestamp must not be before start timestamp",
		},
		{name: "targets", path: "/api/v1/targets", params: url.Values{"state": {"Active"}}, wantCode: 200, wantData: `{"activeTargets":[],"droppedTargets":[]}`},
		{
			name: "targets bad state", path: "/api/v1/targets", params: url.Values{"state": {"gone"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "state": not supported value "gone"`,
		},
		{
			name: "rules bad type", path: "/api/v1/rules", params: url.Values{"type": {"alerts"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "type": not supported value "alerts"`,
		},
		{
			name: "rules bad match[]", path: "/api/v1/rules", params: url.Values{"match[]": {"{"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "match[]"`,
		},
		{
			name: "rules bad exclude_alerts", path: "/api/v1/rules", params: url.Values{"exclude_alerts": {"maybe"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "exclude_alerts"`,
		},
		{
			name: "metadata bad limit", path: "/api/v1/metadata", params: url.Values{"limit": {"x"}},
			wantCode: 400, wantType: "bad_data", wantError: "limit must be a number",
		},
		{
			name: "metadata bad limit_per_metric", path: "/api/v1/metadata", params: url.Values{"limit_per_metric": {"x"}},
			wantCode: 400, wantType: "bad_data", wantError: "limit_per_metric must be a number",
		},
		{name: "target metadata", path: "/api/v1/targets/metadata", params: url.Values{"match_target": {`{job="x"}`}}, wantCode: 200, wantData: `[]`},
		{name: "target metadata limit 0", path: "/api/v1/targets/metadata", params: url.Values{"limit": {"0"}}, wantCode: 200, wantData: `[]`},
		{
			name: "target metadata bad match_target", path: "/api/v1/targets/metadata", params: url.Values{"match_target": {"{"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "match_target"`,
		},
		{
			name: "rules bad dedup", path: "/api/v1/rules", params: url.Values{"dedup": {"x"}},
			wantCode: 400, wantType: "bad_data", wantError: `invalid parameter "dedup"`,
		},
		{name: "flags", path: "/api/v1/status/flags", wantCode: 200, wantData: `{"query.timeout":"2m"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			a := s.do(t, t.Context(), method, tc.path, tc.params)
			if a.code != tc.wantCode {
				t.Fatalf("status %d, want %d (error %q)", a.code, tc.wantCode, a.Error)
			}
			if a.ErrorType != tc.wantType {
				t.Errorf("errorType %q, want %q", a.ErrorType, tc.wantType)
			}
			wantStatus := "success"
			if tc.wantType != "" {
				wantStatus = "error"
			}
			if a.Status != wantStatus {
				t.Errorf("status %q, want %q", a.Status, wantStatus)
			}
			if !strings.Contains(a.Error, tc.wantError) {
				t.Errorf("error %q does not contain %q", a.Error, tc.wantError)
			}
			if tc.wantData != "" && string(a.Data) != tc.wantData {
				t.Errorf("data:\n got %s\nwant %s", a.Data, tc.wantData)
			}
			if strings.Contains(tc.path, "buildinfo") && (strings.Contains(string(a.Data), "features") || !strings.Contains(string(a.Data), `"goVersion"`)) {
				t.Errorf("buildinfo %s: want Prometheus's shape without features", a.Data)
			}
		})
	}
}
