package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// LabelNames asks every matching store for its label names and returns their
// sorted union. Failed stores become warnings unless
// req.PartialResponseDisabled, when the first failure is the error.
func (p *Proxy) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest, storeMatchers [][]*labels.Matcher) ([]string, []error, error) {
	return p.labelFanOut(ctx, req.Start, req.End, req.Matchers, storeMatchers, req.PartialResponseDisabled,
		func(ctx context.Context, c Client) ([]string, []string, error) {
			r := *req
			stripHere := len(req.WithoutReplicaLabels) > 0 && !c.SupportsWithoutReplicaLabels()
			if stripHere {
				r.WithoutReplicaLabels = nil
			}
			resp, err := c.LabelNames(ctx, &r)
			if err != nil {
				return nil, nil, err
			}
			names := resp.Names
			if stripHere {
				names = slices.DeleteFunc(names, func(n string) bool {
					return slices.Contains(req.WithoutReplicaLabels, n)
				})
			}
			return names, resp.Warnings, nil
		})
}

// LabelValues asks every matching store for the values of one label and
// returns their sorted union, with the same partial-response rules as
// LabelNames.
func (p *Proxy) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest, storeMatchers [][]*labels.Matcher) ([]string, []error, error) {
	if slices.Contains(req.WithoutReplicaLabels, req.Label) {
		// The label is removed from every series: it has no values.
		return nil, nil, nil
	}
	return p.labelFanOut(ctx, req.Start, req.End, req.Matchers, storeMatchers, req.PartialResponseDisabled,
		func(ctx context.Context, c Client) ([]string, []string, error) {
			r := *req
			if !c.SupportsWithoutReplicaLabels() {
				r.WithoutReplicaLabels = nil
			}
			resp, err := c.LabelValues(ctx, &r)
			if err != nil {
				return nil, nil, err
			}
			return resp.Values, resp.Warnings, nil
		})
}

// labelCall asks one store; it returns values and the store's own warnings.
type labelCall func(ctx context.Context, c Client) (values, warnings []string, err error)

func (p *Proxy) labelFanOut(ctx context.Context, mint, maxt int64, lms []storepb.LabelMatcher, storeMatchers [][]*labels.Matcher, strict bool, call labelCall) ([]string, []error, error) {
	matchers, err := storepb.MatchersToPromMatchers(lms...)
	if err != nil {
		return nil, nil, fmt.Errorf("convert matchers: %w", err)
	}
	stores := selectStores(p.clients(), mint, maxt, matchers, storeMatchers)
	answers, warnings, err := Gather(ctx, stores, GatherOptions{PartialResponse: !strict},
		func(ctx context.Context, c Client) ([]string, []string, error) {
			ctx, cancel := unaryCallContext(ctx, p.opts.ResponseTimeout)
			defer cancel()
			values, warns, err := call(ctx, c)
			if err != nil {
				return nil, nil, callError(ctx, err)
			}
			return values, warns, nil
		})
	if err != nil {
		return nil, nil, err
	}
	var values []string
	for _, a := range answers {
		values = append(values, a...)
	}
	slices.Sort(values)
	return slices.Compact(values), warnings, nil
}
