package fanout_test

import (
	"fmt"
	"testing"

	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"

	"github.com/tandem-metrics/tandem/pkg/fanout"
)

// BenchmarkRuleGroups: two replicas of 200 groups of 10 rules each, over
// loopback gRPC, merged and deduplicated.
func BenchmarkRuleGroups(b *testing.B) {
	groups := func(replica string) []*rulespb.RuleGroup {
		var out []*rulespb.RuleGroup
		for g := range 200 {
			group := &rulespb.RuleGroup{Name: fmt.Sprintf("g%d", g), File: "rules.yml", LastEvaluation: t0}
			for r := range 10 {
				group.Rules = append(group.Rules, rulespb.NewRecordingRule(&rulespb.RecordingRule{
					Name: fmt.Sprintf("job:r%d:sum", r), Query: "sum by (job) (up)", Labels: zl("replica", replica), LastEvaluation: t0,
				}))
			}
			out = append(out, group)
		}
		return out
	}
	proxy := newProxy(fanout.Options{}, serve(b, &peer{groups: groups("a")}), serve(b, &peer{groups: groups("b")}))
	r := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}
	b.ReportAllocs()
	for b.Loop() {
		if gs, _, err := proxy.RuleGroups(b.Context(), &rulespb.RulesRequest{}, r); err != nil || len(gs) != 200 || len(gs[0].Rules) != 10 {
			b.Fatalf("%d groups, %v", len(gs), err)
		}
	}
}

// BenchmarkTargetDiscovery: two replicas of 5,000 targets each.
func BenchmarkTargetDiscovery(b *testing.B) {
	targets := func(replica string) *targetspb.TargetDiscovery {
		td := &targetspb.TargetDiscovery{}
		for i := range 5000 {
			addr := fmt.Sprintf("host-%d:9100", i)
			td.ActiveTargets = append(td.ActiveTargets, &targetspb.ActiveTarget{
				DiscoveredLabels: zl("__address__", addr, "job", "node", "replica", replica),
				Labels:           zl("instance", addr, "job", "node", "replica", replica),
				ScrapePool:       "node", ScrapeUrl: "http://" + addr + "/metrics", Health: targetspb.TargetHealth_UP, LastScrape: t0,
			})
		}
		return td
	}
	proxy := newProxy(fanout.Options{}, serve(b, &peer{targets: targets("a")}), serve(b, &peer{targets: targets("b")}))
	r := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}
	b.ReportAllocs()
	for b.Loop() {
		if td, _, err := proxy.TargetDiscovery(b.Context(), &targetspb.TargetsRequest{}, "", r); err != nil || len(td.ActiveTargets) != 5000 {
			b.Fatalf("%d targets, %v", len(td.ActiveTargets), err)
		}
	}
}
