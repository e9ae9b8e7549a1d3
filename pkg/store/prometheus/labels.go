package prometheus

import (
	"fmt"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// shaper turns the labels Prometheus sends into the labels a Store API
// client gets: external labels attached (overriding same-named series
// labels), the requested replica labels removed.
type shaper struct {
	external labels.Labels
	drop     []string      // sorted names to remove
	inserted labels.Labels // external minus drop
}

func newShaper(external labels.Labels, withoutReplicaLabels []string) *shaper {
	drop := slices.Clone(withoutReplicaLabels)
	slices.Sort(drop)
	s := &shaper{external: external, drop: drop}
	b := labels.NewBuilder(external)
	for _, n := range drop {
		b.Del(n)
	}
	s.inserted = b.Labels()
	return s
}

func (s *shaper) dropped(name string) bool {
	_, ok := slices.BinarySearch(s.drop, name)
	return ok
}

// shape returns the series' own labels (the order Prometheus sorted it by)
// and its final labels. conflict names a series label that an external
// label overrode or a replica label removed from the series itself: either
// can break the order Prometheus sent.
func (s *shaper) shape(in []prompb.Label) (key, final labels.Labels, conflict string) {
	// Prometheus attaches its external labels to remote-read results; ours
	// are the same ones, read from its configuration.
	key = make(labels.Labels, 0, len(in))
	for _, l := range in {
		if v := s.external.Get(l.Name); v != "" && v == l.Value {
			continue
		}
		key = append(key, labels.Label{Name: l.Name, Value: l.Value})
	}
	final = make(labels.Labels, 0, len(key)+len(s.inserted))
	i := 0
	for _, l := range key {
		for i < len(s.inserted) && s.inserted[i].Name < l.Name {
			final = append(final, s.inserted[i])
			i++
		}
		if i < len(s.inserted) && s.inserted[i].Name == l.Name {
			conflict = l.Name
			continue // the external value wins; appended on the next round
		}
		if s.dropped(l.Name) {
			conflict = l.Name
			continue
		}
		final = append(final, l)
	}
	final = append(final, s.inserted[i:]...)
	return key, final, conflict
}

// matchExternal decides the matchers that name external labels here, where
// the answer is known, and returns the rest for Prometheus. ok is false when
// the external labels rule this replica out.
func matchExternal(ms []storepb.LabelMatcher, external labels.Labels) (rest []*labels.Matcher, ok bool, err error) {
	pms, err := storepb.MatchersToPromMatchers(ms...)
	if err != nil {
		return nil, false, fmt.Errorf("bad matcher: %w", err)
	}
	for _, m := range pms {
		if !external.Has(m.Name) {
			rest = append(rest, m)
			continue
		}
		if !m.Matches(external.Get(m.Name)) {
			return nil, false, nil
		}
	}
	return rest, true, nil
}

// selective returns ms with a matcher added when none of ms excludes any
// series, because Prometheus refuses selections that match everything.
func selective(ms []*labels.Matcher) []*labels.Matcher {
	for _, m := range ms {
		if !m.Matches("") {
			return ms
		}
	}
	return append(ms, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
}

func toPromMatchers(ms []*labels.Matcher) []*prompb.LabelMatcher {
	out := make([]*prompb.LabelMatcher, len(ms))
	for i, m := range ms {
		var t prompb.LabelMatcher_Type
		switch m.Type {
		case labels.MatchEqual:
			t = prompb.LabelMatcher_EQ
		case labels.MatchNotEqual:
			t = prompb.LabelMatcher_NEQ
		case labels.MatchRegexp:
			t = prompb.LabelMatcher_RE
		case labels.MatchNotRegexp:
			t = prompb.LabelMatcher_NRE
		}
		out[i] = &prompb.LabelMatcher{Type: t, Name: m.Name, Value: m.Value}
	}
	return out
}
