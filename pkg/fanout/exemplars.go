package fanout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// componentQuery is a querier's component type: a querier decides matchers
// on external labels itself.
const componentQuery = "query"

// exemplarsCall asks each endpoint its own request, by address.
func exemplarsCall(reqs map[string]*exemplarspb.ExemplarsRequest) call[*exemplarspb.ExemplarsResponse] {
	return call[*exemplarspb.ExemplarsResponse]{
		open: func(ctx context.Context, e Endpoint) (store.FrameStream[*exemplarspb.ExemplarsResponse], error) {
			return exemplarspb.NewExemplarsClient(e.Conn()).Exemplars(ctx, reqs[e.String()])
		},
		warning: (*exemplarspb.ExemplarsResponse).GetWarning,
	}
}

// exemplars asks the endpoints whose label sets and time range can match
// req, each for the selectors of req.Query that can match it. Prometheus
// knows nothing of its external labels, so an endpoint that is not a
// querier gets the selectors without the matchers on them (as a Thanos
// querier sends them), which its label sets already decided.
func (p *Proxy) exemplars(ctx context.Context, req *exemplarspb.ExemplarsRequest, storeMatchers [][]*labels.Matcher) ([]*exemplarspb.ExemplarData, []error, error) {
	expr, err := parser.ParseExpr(req.Query)
	if err != nil {
		return nil, nil, badQuery{err}
	}
	selectors := parser.ExtractSelectors(expr)
	if len(selectors) == 0 {
		return nil, nil, badQuery{errors.New("no series selector in the query")}
	}
	// Which of them can hold the series is up to each selector.
	all, none := p.selected(discovery.ExemplarsAPI, nil, storeMatchers)
	if len(all) == 0 {
		return nil, none, nil
	}
	reqs := map[string]*exemplarspb.ExemplarsRequest{}
	var eps []Endpoint
	for _, e := range all {
		if mint, maxt := e.ExemplarsTimeRange(); req.Start > maxt || req.End < mint {
			continue
		}
		var parts []string
		for _, sel := range selectors {
			if !store.Selected(e.String(), e.LabelSets(), sel, storeMatchers) {
				continue
			}
			parts = append(parts, selectorFor(e, sel))
		}
		if len(parts) == 0 {
			continue
		}
		r := *req
		r.Query = strings.Join(parts, " + ")
		reqs[e.String()] = &r
		eps = append(eps, e)
	}
	answers, warnings, err := gather(ctx, p, eps, partial(req.PartialResponseStrategy), exemplarsCall(reqs))
	var data []*exemplarspb.ExemplarData
	for _, frames := range answers {
		for _, f := range frames {
			if d := f.GetData(); d != nil {
				data = append(data, d)
			}
		}
	}
	return data, warnings, err
}

// selectorFor writes sel for endpoint e: without the matchers on e's
// external labels unless e is a querier, and never without a matcher that
// selects something, which Prometheus requires.
func selectorFor(e Endpoint, sel []*labels.Matcher) string {
	var kept []string
	selective := false
	for _, m := range sel {
		if e.ComponentType() != componentQuery && onExternalLabel(m.Name, e.LabelSets()) {
			continue
		}
		kept = append(kept, m.String())
		selective = selective || !m.Matches("")
	}
	if !selective {
		kept = append(kept, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+").String())
	}
	return "{" + strings.Join(kept, ", ") + "}"
}

func onExternalLabel(name string, lsets []labels.Labels) bool {
	for _, ls := range lsets {
		if ls.Has(name) {
			return true
		}
	}
	return false
}

// badQuery is an exemplar query that does not parse or selects nothing: a
// client's error, not a store's.
type badQuery struct{ err error }

func (e badQuery) Error() string { return fmt.Sprintf("exemplar query: %v", e.err) }
func (e badQuery) Unwrap() error { return e.err }

// IsBadQuery reports whether err is a query the client must correct.
func IsBadQuery(err error) bool { return errors.As(err, new(badQuery)) }

// Exemplars implements exemplarspb.ExemplarsServer: every endpoint's
// series as they are, then the warnings.
func (p *Proxy) Exemplars(req *exemplarspb.ExemplarsRequest, srv exemplarspb.Exemplars_ExemplarsServer) error {
	data, warnings, err := p.exemplars(srv.Context(), req, nil)
	if err != nil {
		return serverError(err)
	}
	return answer(srv.Send, each(data, exemplarspb.NewExemplarsResponse), warnings, exemplarspb.NewWarningExemplarsResponse)
}

// ExemplarData returns the exemplars of the series req.Query selects
// between req.Start and req.End, by series, sorted by series labels and
// then time. Deduplicating, series that differ only by replica labels are
// one series, holding each exemplar (time, labels, value) once.
func (p *Proxy) ExemplarData(ctx context.Context, req *exemplarspb.ExemplarsRequest, r Request) ([]*exemplarspb.ExemplarData, []error, error) {
	fwd := *req
	fwd.PartialResponseStrategy = r.strategy()
	data, warnings, err := p.exemplars(ctx, &fwd, r.StoreMatchers)
	if err != nil {
		return nil, warnings, err
	}
	replicaLabels := r.replicaLabels()
	bySeries := map[string]*exemplarspb.ExemplarData{}
	out := []*exemplarspb.ExemplarData{}
	for _, d := range data {
		if len(d.Exemplars) == 0 {
			continue
		}
		d.SetSeriesLabels(withoutLabels(d.SeriesLabels.PromLabels(), replicaLabels))
		key := string(d.SeriesLabels.PromLabels().Bytes(nil))
		if have, ok := bySeries[key]; ok {
			have.Exemplars = append(have.Exemplars, d.Exemplars...)
			continue
		}
		bySeries[key] = d
		out = append(out, d)
	}
	slices.SortFunc(out, (*exemplarspb.ExemplarData).Compare)
	for _, d := range out {
		d.Exemplars = slices.DeleteFunc(d.Exemplars, func(e *exemplarspb.Exemplar) bool { return e == nil })
		for _, e := range d.Exemplars {
			slices.SortFunc(e.Labels.Labels, func(a, b labelpb.ZLabel) int { return strings.Compare(a.Name, b.Name) })
		}
		slices.SortFunc(d.Exemplars, compareExemplars)
		d.Exemplars = slices.CompactFunc(d.Exemplars, func(a, b *exemplarspb.Exemplar) bool { return compareExemplars(a, b) == 0 })
	}
	return out, warnings, nil
}

// compareExemplars orders exemplars by time, labels and value. (Thanos's
// own Compare panics on a NaN value.)
func compareExemplars(a, b *exemplarspb.Exemplar) int {
	return cmp.Or(cmp.Compare(a.Ts, b.Ts), labels.Compare(a.Labels.PromLabels(), b.Labels.PromLabels()), cmp.Compare(a.Value, b.Value))
}
