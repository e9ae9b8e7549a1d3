package fanout

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
)

func rulesCall(req *rulespb.RulesRequest) call[*rulespb.RulesResponse] {
	return call[*rulespb.RulesResponse]{
		open: func(ctx context.Context, e Endpoint) (store.FrameStream[*rulespb.RulesResponse], error) {
			return rulespb.NewRulesClient(e.Conn()).Rules(ctx, req)
		},
		warning: (*rulespb.RulesResponse).GetWarning,
		check:   checkGroup,
	}
}

func checkGroup(f *rulespb.RulesResponse) error {
	g := f.GetGroup()
	if g == nil {
		return nil
	}
	what := fmt.Sprintf("rule group %q", g.Name)
	if err := finite(what, g.Interval, g.EvaluationDurationSeconds); err != nil {
		return err
	}
	for _, r := range g.Rules {
		if a := r.GetAlert(); a != nil {
			if err := finite(what+" rule "+a.Name, a.DurationSeconds, a.EvaluationDurationSeconds, a.KeepFiringForSeconds); err != nil {
				return err
			}
		}
		if rr := r.GetRecording(); rr != nil {
			if err := finite(what+" rule "+rr.Name, rr.EvaluationDurationSeconds); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Proxy) ruleGroups(ctx context.Context, req *rulespb.RulesRequest, storeMatchers [][]*labels.Matcher) ([]*rulespb.RuleGroup, []error, error) {
	eps, none := p.selected(discovery.RulesAPI, nil, storeMatchers)
	if len(eps) == 0 {
		return nil, none, nil
	}
	answers, warnings, err := gather(ctx, p, eps, partial(req.PartialResponseStrategy), rulesCall(req))
	var groups []*rulespb.RuleGroup
	for _, frames := range answers {
		for _, f := range frames {
			if g := f.GetGroup(); g != nil {
				groups = append(groups, g)
			}
		}
	}
	return groups, warnings, err
}

// Rules implements rulespb.RulesServer: every endpoint's groups as they
// are, then the warnings.
func (p *Proxy) Rules(req *rulespb.RulesRequest, srv rulespb.Rules_RulesServer) error {
	groups, warnings, err := p.ruleGroups(srv.Context(), req, nil)
	if err != nil {
		return serverError(err)
	}
	return answer(srv.Send, each(groups, rulespb.NewRuleGroupRulesResponse), warnings, rulespb.NewWarningRulesResponse)
}

// RuleGroups returns the rule groups of every endpoint that req selects,
// filtered as Prometheus filters them (type, rule_name[], rule_group[],
// file[], match[]) and merged: a group of the same file and name is one
// group; deduplicating, a rule that differs only by replica labels is one
// rule, the copy with the most severe state (alerting) or the latest
// evaluation.
func (p *Proxy) RuleGroups(ctx context.Context, req *rulespb.RulesRequest, r Request) ([]*rulespb.RuleGroup, []error, error) {
	matcherSets := make([][]*labels.Matcher, 0, len(req.MatcherString))
	for _, s := range req.MatcherString {
		ms, err := parser.ParseMetricSelector(s)
		if err != nil {
			return nil, nil, fmt.Errorf("match[] %q: %w", s, err)
		}
		matcherSets = append(matcherSets, ms)
	}
	fwd := *req
	fwd.PartialResponseStrategy = r.strategy()
	groups, warnings, err := p.ruleGroups(ctx, &fwd, r.StoreMatchers)
	if err != nil {
		return nil, warnings, err
	}
	groups = filterRules(groups, req, matcherSets)
	return mergeGroups(groups, r.replicaLabels()), warnings, nil
}

// filterRules keeps the rules that req asks for, and the groups left with
// any.
func filterRules(groups []*rulespb.RuleGroup, req *rulespb.RulesRequest, matcherSets [][]*labels.Matcher) []*rulespb.RuleGroup {
	in := func(set []string, v string) bool { return len(set) == 0 || slices.Contains(set, v) }
	keep := func(r *rulespb.Rule) bool {
		switch {
		case req.Type == rulespb.RulesRequest_ALERT && r.GetAlert() == nil,
			req.Type == rulespb.RulesRequest_RECORD && r.GetRecording() == nil,
			!in(req.RuleName, r.GetName()):
			return false
		}
		return matchesAny(matcherSets, r.GetLabels())
	}
	out := groups[:0]
	for _, g := range groups {
		if !in(req.RuleGroup, g.Name) || !in(req.File, g.File) {
			continue
		}
		g.Rules = slices.DeleteFunc(g.Rules, func(r *rulespb.Rule) bool {
			return r == nil || (r.GetAlert() == nil && r.GetRecording() == nil) || !keep(r)
		})
		if len(g.Rules) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// matchesAny reports whether ls matches every matcher of any of the sets,
// as Prometheus reads match[]; no sets match everything.
func matchesAny(sets [][]*labels.Matcher, ls labels.Labels) bool {
	if len(sets) == 0 {
		return true
	}
	for _, ms := range sets {
		ok := true
		for _, m := range ms {
			ok = ok && m.Matches(ls.Get(m.Name))
		}
		if ok {
			return true
		}
	}
	return false
}

// mergeGroups joins the groups of the same file and name; the group's own
// fields (interval, last evaluation) are those of its latest evaluation.
// Without replica labels every rule stays; with them, the copies of a
// rule that differ only by those labels become one.
func mergeGroups(groups []*rulespb.RuleGroup, replicaLabels []string) []*rulespb.RuleGroup {
	slices.SortStableFunc(groups, func(a, b *rulespb.RuleGroup) int {
		return cmp.Or(a.Compare(b), b.LastEvaluation.Compare(a.LastEvaluation))
	})
	var out []*rulespb.RuleGroup
	for _, g := range groups {
		if n := len(out); n > 0 && out[n-1].Compare(g) == 0 {
			out[n-1].Rules = append(out[n-1].Rules, g.Rules...)
			continue
		}
		out = append(out, g)
	}
	for _, g := range out {
		g.Rules = dedupRules(g.Rules, replicaLabels)
	}
	return out
}

// dedupRules sorts rules as Thanos does (alerting first, then by name,
// labels, query and hold duration) and keeps one of each, the most
// telling copy: for alerting rules the most severe state, then the latest
// evaluation; for recording rules the latest evaluation.
func dedupRules(rules []*rulespb.Rule, replicaLabels []string) []*rulespb.Rule {
	for _, r := range rules {
		r.SetLabels(withoutLabels(r.GetLabels(), replicaLabels))
	}
	slices.SortStableFunc(rules, func(a, b *rulespb.Rule) int {
		return cmp.Or(compareRules(a, b), compareCopies(a, b))
	})
	return slices.CompactFunc(rules, func(a, b *rulespb.Rule) bool { return compareRules(a, b) == 0 })
}

// compareRules orders rules, and tells copies of one rule from other
// rules: alerting before recording, then by name, labels, query and hold
// duration. (Thanos's own Compare panics on a NaN duration.)
func compareRules(a, b *rulespb.Rule) int {
	aa, ba := a.GetAlert(), b.GetAlert()
	if (aa == nil) != (ba == nil) {
		if aa != nil {
			return -1
		}
		return 1
	}
	c := cmp.Or(strings.Compare(a.GetName(), b.GetName()), labels.Compare(a.GetLabels(), b.GetLabels()), strings.Compare(a.GetQuery(), b.GetQuery()))
	if c != 0 || aa == nil {
		return c
	}
	return cmp.Compare(aa.DurationSeconds, ba.DurationSeconds)
}

// compareCopies orders the copies of one rule, the one to keep first: for
// an alerting rule the most severe state, then for either kind the latest
// evaluation.
func compareCopies(a, b *rulespb.Rule) int {
	if aa, ba := a.GetAlert(), b.GetAlert(); aa != nil && ba != nil {
		if c := cmp.Compare(ba.State, aa.State); c != 0 {
			return c
		}
	}
	return b.GetLastEvaluation().Compare(a.GetLastEvaluation())
}

// Alerts returns the alert instances of the rules RuleGroups returns for
// req (its type set to alerting rules).
func Alerts(groups []*rulespb.RuleGroup) []*rulespb.AlertInstance {
	alerts := []*rulespb.AlertInstance{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if a := r.GetAlert(); a != nil {
				alerts = append(alerts, a.Alerts...)
			}
		}
	}
	return alerts
}
