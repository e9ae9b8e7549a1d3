package store

import (
	"context"
	"fmt"
	"slices"
	"sync"

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

	parent := ctx
	ctx, cancel := storeCallContext(parent, !strict)
	defer cancel(nil)

	type answer struct {
		values   []string
		warnings []error
		err      error
	}
	answers := make([]answer, len(stores))
	var wg sync.WaitGroup
	for i, c := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			callCtx := ctx
			if p.opts.ResponseTimeout > 0 {
				// A unary call's silence is its whole duration.
				var cancelCall context.CancelFunc
				callCtx, cancelCall = context.WithTimeoutCause(ctx, p.opts.ResponseTimeout,
					fmt.Errorf("%w: no answer within %s", errStoreSilent, p.opts.ResponseTimeout))
				defer cancelCall()
			}
			values, warns, err := call(callCtx, c)
			if err != nil {
				err = fmt.Errorf("store %s: %w", c, callError(callCtx, err))
				answers[i].err = err
				if strict {
					cancel(err)
				}
				return
			}
			if strict && len(warns) > 0 {
				err = fmt.Errorf("store %s: warning with partial response disabled: %s", c, warns[0])
				answers[i].err = err
				cancel(err)
				return
			}
			answers[i].values = values
			for _, w := range warns {
				answers[i].warnings = append(answers[i].warnings, fmt.Errorf("store %s: %s", c, w))
			}
		}()
	}
	wg.Wait()

	if err := parent.Err(); err != nil {
		return nil, nil, fmt.Errorf("label fan-out: %w", context.Cause(parent))
	}
	if strict {
		// The first failure cancelled the others: it is the one to report.
		if cause := context.Cause(ctx); cause != nil {
			return nil, nil, cause
		}
	}
	var (
		values   []string
		warnings []error
	)
	for _, a := range answers {
		warnings = append(warnings, a.warnings...)
		if a.err != nil {
			warnings = append(warnings, a.err)
		}
		values = append(values, a.values...)
	}
	slices.Sort(values)
	return slices.Compact(values), warnings, nil
}
