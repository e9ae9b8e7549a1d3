package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
)

// TestThanosQueryReadsOurSidecars points an unchanged Thanos querier at two
// Tandem sidecars and checks that it sees exact, deduplicated data.
func TestThanosQueryReadsOurSidecars(t *testing.T) {
	proms := replicas(t, 2)
	var endpoints []string
	for _, p := range proms {
		endpoints = append(endpoints, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	q := e2etest.ThanosQuery(t, endpoints, "--query.replica-label=replica")
	base := "http://" + q.HTTP
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Thanos discovers stores asynchronously: wait until it lists both.
	deadline := time.Now().Add(time.Minute)
	for {
		r := e2etest.API(ctx, t, base, "/api/v1/stores", nil)
		var stores map[string][]struct {
			Name      string  `json:"name"`
			LastError *string `json:"lastError"`
		}
		_ = json.Unmarshal(r.Data, &stores)
		healthy := 0
		for _, s := range stores["sidecar"] {
			if s.LastError == nil {
				healthy++
			}
		}
		if healthy == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Thanos querier sees %s, want 2 healthy sidecars", r.Data)
		}
		time.Sleep(100 * time.Millisecond)
	}

	at := base2(100)
	for _, tc := range []struct {
		name   string
		dedup  bool
		series int
	}{
		{"dedup", true, targets},
		{"no dedup", false, 2 * targets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e2etest.API(ctx, t, base, "/api/v1/query", url.Values{
				"query": {"http_requests_total"},
				"time":  {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)},
				"dedup": {strconv.FormatBool(tc.dedup)},
			})
			vec := e2etest.Vector(t, r)
			if len(vec) != tc.series {
				t.Fatalf("%d series, want %d: %v", len(vec), tc.series, vec)
			}
			for _, s := range vec {
				var i int
				if _, err := fmt.Sscanf(s.Metric["instance"], "host-%d", &i); err != nil {
					t.Fatalf("unexpected series %v", s.Metric)
				}
				if want := strconv.FormatFloat(value(i, 100), 'f', -1, 64); s.Value[1] != want {
					t.Errorf("%v = %v, want %s", s.Metric, s.Value[1], want)
				}
				if _, ok := s.Metric["replica"]; ok == tc.dedup {
					t.Errorf("%v: replica label present=%v with dedup=%v", s.Metric, ok, tc.dedup)
				}
				if s.Metric["cluster"] != "eu" {
					t.Errorf("%v: external label cluster missing", s.Metric)
				}
			}
		})
	}

	// Label APIs through Thanos reach our sidecars too.
	r := e2etest.API(ctx, t, base, "/api/v1/label/instance/values", url.Values{
		"start": {strconv.FormatInt(base2(0).Unix(), 10)}, "end": {strconv.FormatInt(base2(samples).Unix(), 10)}})
	var values []string
	if err := json.Unmarshal(r.Data, &values); err != nil || len(values) != targets {
		t.Fatalf("instance values %s (%v), want %d", r.Data, err, targets)
	}
}

// base2 is the time of sample j.
func base2(j int) time.Time { return base.Add(time.Duration(j) * step) }

// TestOurQueryReadsThanosSidecars points our querier at Thanos sidecars, and
// at a mix of a Thanos sidecar and ours, and checks exact, deduplicated data,
// with the query's selections read in one call and in two phases: the
// first asks a Thanos sidecar for series without chunks.
func TestOurQueryReadsThanosSidecars(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sidecars []func(testing.TB, string, ...string) *e2etest.Process
	}{
		{"two Thanos sidecars", []func(testing.TB, string, ...string) *e2etest.Process{e2etest.ThanosSidecar, e2etest.ThanosSidecar}},
		{"Thanos and Tandem sidecars", []func(testing.TB, string, ...string) *e2etest.Process{e2etest.ThanosSidecar, e2etest.Sidecar}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proms := replicas(t, len(tc.sidecars))
			var endpoints []string
			for i, start := range tc.sidecars {
				endpoints = append(endpoints, start(t, proms[i].URL()).GRPC)
			}
			forEachSelectMode(t, func(t *testing.T, flag string) {
				q := e2etest.Query(t, endpoints, "--query.replica-label=replica", flag)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				at := strconv.FormatInt(base2(100).Unix(), 10)
				for _, dedup := range []bool{true, false} {
					vec := e2etest.Vector(t, e2etest.API(ctx, t, "http://"+q.HTTP, "/api/v1/query", url.Values{
						"query": {"http_requests_total"}, "time": {at}, "dedup": {strconv.FormatBool(dedup)}}))
					want := targets
					if !dedup {
						want *= len(tc.sidecars)
					}
					if len(vec) != want {
						t.Fatalf("dedup=%v: %d series, want %d: %v", dedup, len(vec), want, vec)
					}
					for _, s := range vec {
						var i int
						if _, err := fmt.Sscanf(s.Metric["instance"], "host-%d", &i); err != nil {
							t.Fatalf("unexpected series %v", s.Metric)
						}
						if w := strconv.FormatFloat(value(i, 100), 'f', -1, 64); s.Value[1] != w || s.Metric["cluster"] != "eu" {
							t.Errorf("dedup=%v: %v = %v, want %s with cluster=eu", dedup, s.Metric, s.Value[1], w)
						}
						if _, ok := s.Metric["replica"]; ok == dedup {
							t.Errorf("%v: replica label present=%v with dedup=%v", s.Metric, ok, dedup)
						}
					}
				}
			})
		})
	}
}
