package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/rules/rulespb"

	"github.com/tandem-metrics/tandem/pkg/fanout"
)

// replicaRules are one replica's rule groups as its sidecar serves them:
// the alert firing on one replica and pending on the other, the recording
// rule evaluated at different moments, and a group only one replica has.
func replicaRules(replica string, state rulespb.AlertState, eval time.Time, extra bool) []*rulespb.RuleGroup {
	alert := &rulespb.Alert{
		Name: "HighLoad", Query: "load > 1", DurationSeconds: 60, State: state,
		Labels: zl("replica", replica, "severity", "page"), LastEvaluation: eval, Health: "ok",
	}
	if state == rulespb.AlertState_FIRING {
		alert.Alerts = []*rulespb.AlertInstance{{Labels: zl("alertname", "HighLoad", "instance", "a"), State: state, Value: "2e+00"}}
	}
	groups := []*rulespb.RuleGroup{{
		Name: "load", File: "load.yml", Interval: 15, LastEvaluation: eval,
		Rules: []*rulespb.Rule{
			rulespb.NewRecordingRule(&rulespb.RecordingRule{Name: "job:load:avg", Query: "avg(load)", Labels: zl("replica", replica), LastEvaluation: eval, Health: "ok"}),
			rulespb.NewAlertingRule(alert),
		},
	}}
	if extra {
		groups = append(groups, &rulespb.RuleGroup{
			Name: "db", File: "db.yml", Interval: 30, LastEvaluation: eval,
			Rules: []*rulespb.Rule{rulespb.NewRecordingRule(&rulespb.RecordingRule{Name: "db:up", Query: "up{job=\"db\"}", Labels: zl("replica", replica, "team", "db"), LastEvaluation: eval})},
		})
	}
	return groups
}

// ruleSummary is what a test compares of an answer: each group's file and
// name, and each rule's name, replica, state and evaluation second.
func ruleSummary(groups []*rulespb.RuleGroup) string {
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%s;%s@%d:", g.File, g.Name, g.LastEvaluation.Unix()-t0.Unix())
		for _, r := range g.Rules {
			fmt.Fprintf(&b, " %s", r.GetName())
			if rep := r.GetLabels().Get("replica"); rep != "" {
				fmt.Fprintf(&b, "/%s", rep)
			}
			if a := r.GetAlert(); a != nil {
				fmt.Fprintf(&b, "/%s/%d", strings.ToLower(a.State.String()), len(a.Alerts))
			}
			fmt.Fprintf(&b, "@%d", r.GetLastEvaluation().Unix()-t0.Unix())
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestRuleGroups(t *testing.T) {
	a := serve(t, &peer{groups: replicaRules("a", rulespb.AlertState_FIRING, t0, true)}, "replica", "a")
	b := serve(t, &peer{groups: replicaRules("b", rulespb.AlertState_PENDING, t0.Add(2*time.Second), false)}, "replica", "b")
	proxy := newProxy(fanout.Options{}, a, b)
	dedup := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}

	for _, tc := range []struct {
		name string
		req  *rulespb.RulesRequest
		r    fanout.Request
		want string
	}{
		{
			name: "dedup keeps the firing alert and the latest evaluation", req: &rulespb.RulesRequest{}, r: dedup,
			want: "db.yml;db@0: db:up@0\nload.yml;load@2: HighLoad/firing/1@0 job:load:avg@2\n",
		},
		{
			name: "without dedup every replica's rule", req: &rulespb.RulesRequest{}, r: fanout.Request{PartialResponse: true, ReplicaLabels: []string{"replica"}},
			want: "db.yml;db@0: db:up/a@0\nload.yml;load@2: HighLoad/a/firing/1@0 HighLoad/b/pending/0@2 job:load:avg/a@0 job:load:avg/b@2\n",
		},
		{
			name: "type alert", req: &rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}, r: dedup,
			want: "load.yml;load@2: HighLoad/firing/1@0\n",
		},
		{
			name: "type record", req: &rulespb.RulesRequest{Type: rulespb.RulesRequest_RECORD}, r: dedup,
			want: "db.yml;db@0: db:up@0\nload.yml;load@2: job:load:avg@2\n",
		},
		{
			name: "rule_name[]", req: &rulespb.RulesRequest{RuleName: []string{"db:up", "HighLoad"}}, r: dedup,
			want: "db.yml;db@0: db:up@0\nload.yml;load@2: HighLoad/firing/1@0\n",
		},
		{
			name: "rule_group[] and file[]", req: &rulespb.RulesRequest{RuleGroup: []string{"load", "db"}, File: []string{"db.yml"}}, r: dedup,
			want: "db.yml;db@0: db:up@0\n",
		},
		{
			name: "match[] sets are ORed, matchers in a set ANDed",
			req:  &rulespb.RulesRequest{MatcherString: []string{`{severity="page",replica="a"}`, `{team="db"}`}},
			r:    fanout.Request{PartialResponse: true},
			want: "db.yml;db@0: db:up/a@0\nload.yml;load@0: HighLoad/a/firing/1@0\n",
		},
		{
			name: "storeMatch[] asks one replica", req: &rulespb.RulesRequest{},
			r:    fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}, StoreMatchers: matchers(t, `{replica="b"}`)},
			want: "load.yml;load@2: HighLoad/pending/0@2 job:load:avg@2\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, warnings, err := proxy.RuleGroups(t.Context(), tc.req, tc.r)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("err %v, warnings %v", err, warnings)
			}
			if got := ruleSummary(groups); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}

	t.Run("alerts", func(t *testing.T) {
		groups, _, err := proxy.RuleGroups(t.Context(), &rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}, dedup)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(fanout.Alerts(groups))
		if err != nil {
			t.Fatal(err)
		}
		if want := `[{"labels":{"alertname":"HighLoad","instance":"a"},"annotations":{},"state":"firing","value":"2e+00","partialResponseStrategy":"WARN"}]`; string(b) != want {
			t.Errorf("alerts %s, want %s", b, want)
		}
	})
}

// TestStackedRules puts a proxy served over gRPC, as a query serves it,
// between the replicas and the proxy that answers: it passes every
// replica's rules on, and the answer above is the same as over the
// replicas themselves.
func TestStackedRules(t *testing.T) {
	a := serve(t, &peer{groups: replicaRules("a", rulespb.AlertState_FIRING, t0, true)}, "replica", "a")
	b := serve(t, &peer{groups: replicaRules("b", rulespb.AlertState_PENDING, t0.Add(2*time.Second), false)}, "replica", "b")
	below := serveProxy(t, newProxy(fanout.Options{}, a, b))
	for _, r := range []fanout.Request{
		{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}},
		{PartialResponse: true},
	} {
		flat, _, err := newProxy(fanout.Options{}, a, b).RuleGroups(t.Context(), &rulespb.RulesRequest{}, r)
		if err != nil {
			t.Fatal(err)
		}
		stacked, warnings, err := newProxy(fanout.Options{}, below).RuleGroups(t.Context(), &rulespb.RulesRequest{}, r)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("err %v, warnings %v", err, warnings)
		}
		if got, want := ruleSummary(stacked), ruleSummary(flat); got != want {
			t.Errorf("dedup=%v: stacked\n%s\nflat\n%s", r.Dedup, got, want)
		}
	}
}

// TestFailingPeers checks the partial-response rules with peers that fail,
// stay silent, never stop sending or send what JSON cannot hold.
func TestFailingPeers(t *testing.T) {
	good := serve(t, &peer{groups: replicaRules("a", rulespb.AlertState_FIRING, t0, false)}, "replica", "a")
	huge := &rulespb.RuleGroup{Name: "huge", File: "huge.yml", LastEvaluation: t0}
	for i := range 2000 {
		huge.Rules = append(huge.Rules, rulespb.NewRecordingRule(&rulespb.RecordingRule{
			Name: fmt.Sprintf("r%d", i), Query: strings.Repeat("x", 2000), LastEvaluation: t0,
		}))
	}
	nan := replicaRules("c", rulespb.AlertState_INACTIVE, t0, false)
	nan[0].Rules[1].GetAlert().DurationSeconds = math.NaN()

	for _, tc := range []struct {
		name string
		bad  *peer
		opts fanout.Options
		want string
	}{
		{name: "down", bad: &peer{fail: errDown}, want: "Prometheus is down"},
		{name: "silent", bad: &peer{silent: true}, opts: fanout.Options{ResponseTimeout: 200 * time.Millisecond}, want: "store response timeout: no answer within 200ms"},
		{name: "endless", bad: &peer{endless: true, groups: replicaRules("b", rulespb.AlertState_FIRING, t0, true)}, opts: fanout.Options{MaxBytes: 1 << 20},
			want: "answer larger than 1 MiB, the most one store may send"},
		{name: "huge group", bad: &peer{groups: []*rulespb.RuleGroup{huge}}, opts: fanout.Options{MaxBytes: 1 << 20},
			want: "answer larger than 1 MiB"},
		{name: "NaN duration", bad: &peer{groups: nan}, want: `rule group "load" rule HighLoad: NaN is not a number the API can answer with`},
		{name: "warning", bad: &peer{warning: "rule evaluation is slow"}, want: "rule evaluation is slow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := serve(t, tc.bad, "replica", "b")
			proxy := newProxy(tc.opts, good, bad)
			req := fanout.Request{PartialResponse: true, Dedup: true, ReplicaLabels: []string{"replica"}}

			start := time.Now()
			groups, warnings, err := proxy.RuleGroups(t.Context(), &rulespb.RulesRequest{}, req)
			if err != nil {
				t.Fatalf("partial response: %v", err)
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if got := ruleSummary(groups); got != "load.yml;load@0: HighLoad/firing/1@0 job:load:avg@0\n" {
				t.Errorf("groups of the working store:\n%s", got)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "store "+bad.addr+": ") || !strings.Contains(warnings[0].Error(), tc.want) {
				t.Errorf("warnings %q, want one naming %s and saying %q", warnings, bad.addr, tc.want)
			}

			req.PartialResponse = false
			_, _, err = proxy.RuleGroups(t.Context(), &rulespb.RulesRequest{}, req)
			if err == nil || !strings.Contains(err.Error(), "store "+bad.addr+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("without partial response: error %v, want one naming %s and saying %q", err, bad.addr, tc.want)
			}
		})
	}

	t.Run("no store left", func(t *testing.T) {
		down := serve(t, &peer{}, "replica", "c")
		down.unhealthy = true
		for _, tc := range []struct {
			proxy *fanout.Proxy
			r     fanout.Request
			want  string
		}{
			{newProxy(fanout.Options{}), fanout.Request{}, "no store offers the rules API"},
			{newProxy(fanout.Options{}, down), fanout.Request{}, "no store offers the rules API; unhealthy: " + down.addr},
			{newProxy(fanout.Options{}, good, down), fanout.Request{StoreMatchers: matchers(t, `{replica="c"}`)},
				"no store that storeMatch[] selects offers the rules API; unhealthy: " + down.addr},
		} {
			groups, warnings, err := tc.proxy.RuleGroups(t.Context(), &rulespb.RulesRequest{}, tc.r)
			if err != nil || len(groups) != 0 || len(warnings) != 1 || warnings[0].Error() != tc.want {
				t.Errorf("groups %v, warnings %v, err %v; want the warning %q", groups, warnings, err, tc.want)
			}
		}
	})

	t.Run("deadline", func(t *testing.T) {
		bad := serve(t, &peer{silent: true}, "replica", "b")
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		groups, warnings, err := newProxy(fanout.Options{}, good, bad).RuleGroups(ctx, &rulespb.RulesRequest{},
			fanout.Request{PartialResponse: true})
		if err != nil || len(groups) != 1 || len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "no complete answer before the request's deadline") {
			t.Errorf("a silent store with partial response before the deadline: groups %d, warnings %v, err %v", len(groups), warnings, err)
		}
	})
}
