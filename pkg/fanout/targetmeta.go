package fanout

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

func targetMetadataCall(req *targetmetapb.Request) call[*targetmetapb.Response] {
	return call[*targetmetapb.Response]{
		open: func(ctx context.Context, e Endpoint) (store.FrameStream[*targetmetapb.Response], error) {
			return targetmetapb.Call(ctx, e.Conn(), req)
		},
		warning: (*targetmetapb.Response).GetWarning,
	}
}

// targetMetadata asks the endpoints that serve the target metadata API and
// whose label sets can match req.MatchTarget. Those that serve targets but
// not this API (Thanos's components) are named in a warning: their targets
// are missing from the answer.
func (p *Proxy) targetMetadata(ctx context.Context, req *targetmetapb.Request, storeMatchers [][]*labels.Matcher) ([]targetmetapb.Entry, []error, error) {
	var matchers []*labels.Matcher
	if req.MatchTarget != "" {
		var err error
		if matchers, err = parser.ParseMetricSelector(req.MatchTarget); err != nil {
			return nil, nil, badQuery{err}
		}
	}
	eps, none := p.selected(discovery.TargetMetadataAPI, matchers, storeMatchers)
	serving := map[string]bool{}
	for _, e := range eps {
		serving[e.String()] = true
	}
	var warnings []error
	for _, e := range p.endpoints(discovery.TargetsAPI) {
		if e.Healthy() && !serving[e.String()] && store.Selected(e.String(), e.LabelSets(), matchers, storeMatchers) {
			warnings = append(warnings, fmt.Errorf("store %s: serves targets but not their metadata (only Tandem's components do): its targets are left out", e))
		}
	}
	if len(eps) == 0 {
		if len(warnings) == 0 {
			warnings = none
		}
		return nil, warnings, nil
	}
	answers, errs, err := gather(ctx, p, eps, partial(req.PartialResponseStrategy), targetMetadataCall(req))
	var entries []targetmetapb.Entry
	for _, frames := range answers {
		for _, f := range frames {
			entries = append(entries, f.Entries...)
		}
	}
	return entries, append(warnings, errs...), err
}

// TargetMetadata implements targetmetapb.Server: every endpoint's entries
// as they are, then the warnings.
func (p *Proxy) TargetMetadata(req *targetmetapb.Request, srv targetmetapb.Stream) error {
	entries, warnings, err := p.targetMetadata(srv.Context(), req, nil)
	if err != nil {
		return serverError(err)
	}
	frames := batched(entries, func(es []targetmetapb.Entry) *targetmetapb.Response { return &targetmetapb.Response{Entries: es} })
	return answer(srv.Send, frames, warnings, func(w error) *targetmetapb.Response { return &targetmetapb.Response{Warning: w.Error()} })
}

// TargetMetadataEntries returns the metadata of the targets that match
// req.MatchTarget (all if empty) of metric (all if empty), as Prometheus
// answers /api/v1/targets/metadata, sorted by target and metric, of at
// most req.Limit targets (0: no limit). Deduplicating, the copies of a
// target that differ only by replica labels are one.
func (p *Proxy) TargetMetadataEntries(ctx context.Context, req *targetmetapb.Request, r Request) ([]targetmetapb.Entry, []error, error) {
	fwd := *req
	fwd.PartialResponseStrategy = r.strategy()
	entries, warnings, err := p.targetMetadata(ctx, &fwd, r.StoreMatchers)
	if err != nil {
		return nil, warnings, err
	}
	replicaLabels := r.replicaLabels()
	for i := range entries {
		entries[i].Target = withoutLabels(entries[i].Target, replicaLabels)
	}
	compare := func(a, b targetmetapb.Entry) int {
		return cmp.Or(labels.Compare(a.Target, b.Target), cmp.Compare(a.Metric, b.Metric),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.Help, b.Help), cmp.Compare(a.Unit, b.Unit))
	}
	slices.SortFunc(entries, compare)
	entries = slices.CompactFunc(entries, func(a, b targetmetapb.Entry) bool { return compare(a, b) == 0 })
	if req.Limit > 0 {
		targets := int64(0)
		for i := range entries {
			if i == 0 || !labels.Equal(entries[i].Target, entries[i-1].Target) {
				if targets++; targets > req.Limit {
					entries = entries[:i]
					break
				}
			}
		}
	}
	if entries == nil {
		entries = []targetmetapb.Entry{}
	}
	return entries, warnings, nil
}
