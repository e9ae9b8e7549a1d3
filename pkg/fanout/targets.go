package fanout

import (
	"cmp"
	"context"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
)

func targetsCall(req *targetspb.TargetsRequest) call[*targetspb.TargetsResponse] {
	return call[*targetspb.TargetsResponse]{
		open: func(ctx context.Context, e Endpoint) (store.FrameStream[*targetspb.TargetsResponse], error) {
			return targetspb.NewTargetsClient(e.Conn()).Targets(ctx, req)
		},
		warning: (*targetspb.TargetsResponse).GetWarning,
		check: func(f *targetspb.TargetsResponse) error {
			td := f.GetTargets()
			if td == nil {
				return nil
			}
			for _, t := range td.ActiveTargets {
				if t == nil {
					continue
				}
				if err := finite("target "+t.ScrapeUrl, t.LastScrapeDuration); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func (p *Proxy) targets(ctx context.Context, req *targetspb.TargetsRequest, storeMatchers [][]*labels.Matcher) (*targetspb.TargetDiscovery, []error, error) {
	all := &targetspb.TargetDiscovery{ActiveTargets: []*targetspb.ActiveTarget{}, DroppedTargets: []*targetspb.DroppedTarget{}}
	eps, none := p.selected(discovery.TargetsAPI, nil, storeMatchers)
	if len(eps) == 0 {
		return all, none, nil
	}
	answers, warnings, err := gather(ctx, p, eps, partial(req.PartialResponseStrategy), targetsCall(req))
	for _, frames := range answers {
		for _, f := range frames {
			if t := f.GetTargets(); t != nil {
				all.ActiveTargets = append(all.ActiveTargets, t.ActiveTargets...)
				all.DroppedTargets = append(all.DroppedTargets, t.DroppedTargets...)
			}
		}
	}
	return all, warnings, err
}

// Targets implements targetspb.TargetsServer: every endpoint's targets,
// then the warnings.
func (p *Proxy) Targets(req *targetspb.TargetsRequest, srv targetspb.Targets_TargetsServer) error {
	all, warnings, err := p.targets(srv.Context(), req, nil)
	if err != nil {
		return serverError(err)
	}
	frames := append(
		batched(all.ActiveTargets, func(ts []*targetspb.ActiveTarget) *targetspb.TargetsResponse {
			return targetspb.NewTargetsResponse(&targetspb.TargetDiscovery{ActiveTargets: ts, DroppedTargets: []*targetspb.DroppedTarget{}})
		}),
		batched(all.DroppedTargets, func(ts []*targetspb.DroppedTarget) *targetspb.TargetsResponse {
			return targetspb.NewTargetsResponse(&targetspb.TargetDiscovery{ActiveTargets: []*targetspb.ActiveTarget{}, DroppedTargets: ts})
		})...)
	return answer(srv.Send, frames, warnings, targetspb.NewWarningTargetsResponse)
}

// TargetDiscovery returns the active and dropped targets of every endpoint
// that r selects, of one scrape pool if scrapePool is not empty, sorted by
// scrape URL, pool and labels. Deduplicating, a target that differs only
// by replica labels is one target: the copy that is down, if any, else the
// one scraped last. Dropped targets carry no pool on the wire; their job
// label (the pool's name unless relabelled) stands for it.
func (p *Proxy) TargetDiscovery(ctx context.Context, req *targetspb.TargetsRequest, scrapePool string, r Request) (*targetspb.TargetDiscovery, []error, error) {
	fwd := *req
	fwd.PartialResponseStrategy = r.strategy()
	all, warnings, err := p.targets(ctx, &fwd, r.StoreMatchers)
	if err != nil {
		return nil, warnings, err
	}
	active, dropped := all.ActiveTargets, all.DroppedTargets
	if req.State == targetspb.TargetsRequest_DROPPED {
		active = active[:0]
	}
	if req.State == targetspb.TargetsRequest_ACTIVE {
		dropped = dropped[:0]
	}
	if scrapePool != "" {
		active = slices.DeleteFunc(active, func(t *targetspb.ActiveTarget) bool { return t.ScrapePool != scrapePool })
		dropped = slices.DeleteFunc(dropped, func(t *targetspb.DroppedTarget) bool {
			return t.DiscoveredLabels.PromLabels().Get("job") != scrapePool
		})
	}
	replicaLabels := r.replicaLabels()
	active = slices.DeleteFunc(active, func(t *targetspb.ActiveTarget) bool { return t == nil })
	for _, t := range active {
		t.SetDiscoveredLabels(withoutLabels(t.DiscoveredLabels.PromLabels(), replicaLabels))
		t.SetLabels(withoutLabels(t.Labels.PromLabels(), replicaLabels))
	}
	slices.SortStableFunc(active, func(a, b *targetspb.ActiveTarget) int {
		return cmp.Or(a.Compare(b), a.CompareState(b))
	})
	active = slices.CompactFunc(active, func(a, b *targetspb.ActiveTarget) bool { return a.Compare(b) == 0 })

	dropped = slices.DeleteFunc(dropped, func(t *targetspb.DroppedTarget) bool { return t == nil })
	for _, t := range dropped {
		t.SetDiscoveredLabels(withoutLabels(t.DiscoveredLabels.PromLabels(), replicaLabels))
	}
	slices.SortStableFunc(dropped, (*targetspb.DroppedTarget).Compare)
	dropped = slices.CompactFunc(dropped, func(a, b *targetspb.DroppedTarget) bool { return a.Compare(b) == 0 })
	return &targetspb.TargetDiscovery{ActiveTargets: active, DroppedTargets: dropped}, warnings, nil
}
