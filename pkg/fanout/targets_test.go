package fanout_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// replicaTargets are one replica's targets as its sidecar serves them: the
// api target up or down as health says, the db target up, and a dropped
// target of pool node.
func replicaTargets(replica string, apiHealth targetspb.TargetHealth, scraped time.Time) *targetspb.TargetDiscovery {
	target := func(pool, addr string, health targetspb.TargetHealth) *targetspb.ActiveTarget {
		return &targetspb.ActiveTarget{
			DiscoveredLabels: zl("__address__", addr, "job", pool, "replica", replica),
			Labels:           zl("instance", addr, "job", pool, "replica", replica),
			ScrapePool:       pool, ScrapeUrl: "http://" + addr + "/metrics", Health: health, LastScrape: scraped,
		}
	}
	return &targetspb.TargetDiscovery{
		ActiveTargets: []*targetspb.ActiveTarget{target("api", "api:80", apiHealth), target("db", "db:9100", targetspb.TargetHealth_UP)},
		DroppedTargets: []*targetspb.DroppedTarget{{
			DiscoveredLabels: zl("__address__", "node:9100", "job", "node", "replica", replica),
		}},
	}
}

func targetSummary(td *targetspb.TargetDiscovery) string {
	var b strings.Builder
	for _, t := range td.ActiveTargets {
		fmt.Fprintf(&b, "%s %s %s/%s@%d\n", t.ScrapePool, t.ScrapeUrl, t.Labels.PromLabels().Get("replica"),
			strings.ToLower(t.Health.String()), t.LastScrape.Unix()-t0.Unix())
	}
	for _, t := range td.DroppedTargets {
		fmt.Fprintf(&b, "dropped %s\n", t.DiscoveredLabels.PromLabels())
	}
	return b.String()
}

func TestTargetDiscovery(t *testing.T) {
	a := serve(t, &peer{targets: replicaTargets("a", targetspb.TargetHealth_UP, t0.Add(time.Second))}, "replica", "a")
	b := serve(t, &peer{targets: replicaTargets("b", targetspb.TargetHealth_DOWN, t0)}, "replica", "b")
	proxy := newProxy(fanout.Options{}, a, b)
	dedup := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}
	for _, tc := range []struct {
		name  string
		state targetspb.TargetsRequest_State
		pool  string
		r     fanout.Request
		want  string
	}{
		{
			name: "dedup keeps the copy that is down, else the latest scrape", r: dedup,
			want: "api http://api:80/metrics /down@0\ndb http://db:9100/metrics /up@1\n" +
				`dropped {__address__="node:9100", job="node"}` + "\n",
		},
		{
			name: "without dedup", r: fanout.Request{PartialResponse: true, ReplicaLabels: []string{"replica"}},
			want: "api http://api:80/metrics a/up@1\napi http://api:80/metrics b/down@0\n" +
				"db http://db:9100/metrics a/up@1\ndb http://db:9100/metrics b/up@0\n" +
				`dropped {__address__="node:9100", job="node", replica="a"}` + "\n" +
				`dropped {__address__="node:9100", job="node", replica="b"}` + "\n",
		},
		{name: "active", state: targetspb.TargetsRequest_ACTIVE, r: dedup, want: "api http://api:80/metrics /down@0\ndb http://db:9100/metrics /up@1\n"},
		{name: "dropped", state: targetspb.TargetsRequest_DROPPED, r: dedup, want: `dropped {__address__="node:9100", job="node"}` + "\n"},
		{name: "scrapePool of active targets", pool: "db", r: dedup, want: "db http://db:9100/metrics /up@1\n"},
		{name: "scrapePool of dropped targets", pool: "node", r: dedup, want: `dropped {__address__="node:9100", job="node"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td, warnings, err := proxy.TargetDiscovery(t.Context(), &targetspb.TargetsRequest{State: tc.state}, tc.pool, tc.r)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("err %v, warnings %v", err, warnings)
			}
			if got := targetSummary(td); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	counter := metadatapb.Meta{Type: "counter", Help: "Requests served.", Unit: ""}
	a := serve(t, &peer{metadata: map[string][]metadatapb.Meta{
		"http_requests_total": {counter},
		"up":                  {{Type: "gauge", Help: "Up."}},
	}}, "replica", "a")
	b := serve(t, &peer{metadata: map[string][]metadatapb.Meta{
		"http_requests_total": {counter, {Type: "counter", Help: "Requests, by code."}},
		"go_goroutines":       {{Type: "gauge", Help: "Goroutines."}},
	}}, "replica", "b")
	proxy := newProxy(fanout.Options{}, a, b)
	for _, tc := range []struct {
		name                  string
		limit, limitPerMetric int
		want                  string
	}{
		{name: "all", limit: -1, want: `{"go_goroutines":[{"type":"gauge","help":"Goroutines.","unit":""}],` +
			`"http_requests_total":[{"type":"counter","help":"Requests served.","unit":""},{"type":"counter","help":"Requests, by code.","unit":""}],` +
			`"up":[{"type":"gauge","help":"Up.","unit":""}]}`},
		{name: "limit", limit: 2, want: `{"go_goroutines":[{"type":"gauge","help":"Goroutines.","unit":""}],` +
			`"http_requests_total":[{"type":"counter","help":"Requests served.","unit":""},{"type":"counter","help":"Requests, by code.","unit":""}]}`},
		{name: "limit 0", limit: 0, want: `{}`},
		{name: "limit_per_metric", limit: -1, limitPerMetric: 1, want: `{"go_goroutines":[{"type":"gauge","help":"Goroutines.","unit":""}],` +
			`"http_requests_total":[{"type":"counter","help":"Requests served.","unit":""}],"up":[{"type":"gauge","help":"Up.","unit":""}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, warnings, err := proxy.Metadata(t.Context(), "", tc.limit, tc.limitPerMetric, fanout.Request{PartialResponse: true})
			if err != nil || len(warnings) > 0 {
				t.Fatalf("err %v, warnings %v", err, warnings)
			}
			if got, _ := json.Marshal(md); string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestExemplars(t *testing.T) {
	exemplar := func(ts int64, trace string) *exemplarspb.Exemplar {
		return &exemplarspb.Exemplar{Labels: zl("trace_id", trace), Value: 0.25, Ts: ts}
	}
	series := func(replica string, exemplars ...*exemplarspb.Exemplar) []*exemplarspb.ExemplarData {
		return []*exemplarspb.ExemplarData{{SeriesLabels: zl("__name__", "rpc_seconds_bucket", "le", "0.5", "replica", replica, "cluster", "eu"), Exemplars: exemplars}}
	}
	pa := &peer{exemplars: series("a", exemplar(2000, "t2"), exemplar(1000, "t1"))}
	pb := &peer{exemplars: series("b", exemplar(1000, "t1"), exemplar(3000, "t3"))}
	a := serve(t, pa, "cluster", "eu", "replica", "a")
	b := serve(t, pb, "cluster", "eu", "replica", "b")
	q := serveProxy(t, newProxy(fanout.Options{}, b), "cluster", "eu", "replica", "b")
	proxy := newProxy(fanout.Options{}, a, q)

	req := &exemplarspb.ExemplarsRequest{Query: `rate(rpc_seconds_bucket{cluster="eu",replica=~"a|b"}[5m])`, Start: 0, End: 10_000}
	data, warnings, err := proxy.ExemplarData(t.Context(), req, fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("err %v, warnings %v", err, warnings)
	}
	got, _ := json.Marshal(data)
	want := `[{"seriesLabels":{"__name__":"rpc_seconds_bucket","cluster":"eu","le":"0.5"},"exemplars":[` +
		`{"labels":{"trace_id":"t1"},"timestamp":1,"value":"0.25"},{"labels":{"trace_id":"t2"},"timestamp":2,"value":"0.25"},` +
		`{"labels":{"trace_id":"t3"},"timestamp":3,"value":"0.25"}]}]`
	if string(got) != want {
		t.Errorf("deduplicated:\n got %s\nwant %s", got, want)
	}
	// The sidecar is asked without the matchers on its external labels,
	// which Prometheus does not know; the querier with them, to pick its
	// own stores.
	if got, want := pa.exemplarQueries(), []string{`{__name__="rpc_seconds_bucket"}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sidecar asked %q, want %q", got, want)
	}
	if got := pb.exemplarQueries(); len(got) != 1 || got[0] != `{__name__="rpc_seconds_bucket"}` {
		t.Errorf("sidecar below the querier asked %q", got)
	}

	t.Run("a selector on another replica asks no store", func(t *testing.T) {
		req := &exemplarspb.ExemplarsRequest{Query: `rpc_seconds_bucket{replica="c"}`, End: 10_000}
		data, warnings, err := proxy.ExemplarData(t.Context(), req, fanout.Request{PartialResponse: true})
		if err != nil || len(warnings) > 0 || len(data) != 0 {
			t.Fatalf("data %v, warnings %v, err %v", data, warnings, err)
		}
		if n := len(pa.exemplarQueries()); n != 1 {
			t.Errorf("replica a was asked %d times, want once", n)
		}
	})
	t.Run("bad query", func(t *testing.T) {
		_, _, err := proxy.ExemplarData(t.Context(), &exemplarspb.ExemplarsRequest{Query: "rate(", End: 1}, fanout.Request{})
		if !fanout.IsBadQuery(err) {
			t.Errorf("error %v, want a bad query", err)
		}
	})
}

func TestTargetMetadataEntries(t *testing.T) {
	entries := func(replica string) []targetmetapb.Entry {
		return []targetmetapb.Entry{
			{Target: labels.FromStrings("instance", "db:9100", "job", "db", "replica", replica), Metric: "up", Type: "gauge", Help: "Up."},
			{Target: labels.FromStrings("instance", "api:80", "job", "api", "replica", replica), Metric: "rpc_seconds", Type: "histogram", Unit: "seconds"},
			{Target: labels.FromStrings("instance", "api:80", "job", "api", "replica", replica), Metric: "up", Type: "gauge", Help: "Up."},
		}
	}
	pa, pb := &peer{entries: entries("a")}, &peer{entries: entries("b")}
	a := serve(t, pa, "replica", "a")
	b := serve(t, pb, "replica", "b")
	thanos := serve(t, &peer{}, "replica", "c")
	thanos.offers = []discovery.API{discovery.RulesAPI, discovery.TargetsAPI, discovery.MetricMetadataAPI, discovery.ExemplarsAPI}
	proxy := newProxy(fanout.Options{}, a, b, thanos)
	summary := func(es []targetmetapb.Entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Target.Get("instance")+"/"+e.Target.Get("replica")+"/"+e.Metric)
		}
		return strings.Join(out, " ")
	}
	dedup := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}
	for _, tc := range []struct {
		name        string
		req         targetmetapb.Request
		r           fanout.Request
		want        string
		thanosNamed bool
	}{
		{name: "dedup", r: dedup, want: "api:80//rpc_seconds api:80//up db:9100//up", thanosNamed: true},
		{name: "without dedup", r: fanout.Request{PartialResponse: true}, thanosNamed: true,
			want: "api:80/a/rpc_seconds api:80/a/up api:80/b/rpc_seconds api:80/b/up db:9100/a/up db:9100/b/up"},
		{name: "limit counts targets", req: targetmetapb.Request{Limit: 1}, r: dedup, want: "api:80//rpc_seconds api:80//up", thanosNamed: true},
		{name: "match_target on a replica asks only it", req: targetmetapb.Request{MatchTarget: `{replica="a"}`}, r: fanout.Request{PartialResponse: true},
			want: "api:80/a/rpc_seconds api:80/a/up db:9100/a/up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := proxy.TargetMetadataEntries(t.Context(), &tc.req, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if summary(got) != tc.want {
				t.Errorf("got  %s\nwant %s", summary(got), tc.want)
			}
			named := len(warnings) == 1 && strings.Contains(warnings[0].Error(), "store "+thanos.addr+": serves targets but not their metadata")
			if named != tc.thanosNamed || (!tc.thanosNamed && len(warnings) > 0) {
				t.Errorf("warnings %v; want the endpoint without the API named: %v", warnings, tc.thanosNamed)
			}
		})
	}
	if n := pa.calls() + pb.calls(); n != 7 {
		t.Errorf("the replicas were asked %d times, want 7", n)
	}
}
