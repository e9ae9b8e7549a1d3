package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"

	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// Sources answer what each Prometheus tells about itself, read from the
// stores' Rules, Targets, Metadata and Exemplars APIs and Tandem's target
// metadata API. *fanout.Proxy is one.
type Sources interface {
	RuleGroups(ctx context.Context, req *rulespb.RulesRequest, r fanout.Request) ([]*rulespb.RuleGroup, []error, error)
	TargetDiscovery(ctx context.Context, req *targetspb.TargetsRequest, scrapePool string, r fanout.Request) (*targetspb.TargetDiscovery, []error, error)
	Metadata(ctx context.Context, metric string, limit, limitPerMetric int, r fanout.Request) (map[string][]metadatapb.Meta, []error, error)
	ExemplarData(ctx context.Context, req *exemplarspb.ExemplarsRequest, r fanout.Request) ([]*exemplarspb.ExemplarData, []error, error)
	TargetMetadataEntries(ctx context.Context, req *targetmetapb.Request, r fanout.Request) ([]targetmetapb.Entry, []error, error)
}

// SourcesPartialResponse are the defaults of partial_response on the
// endpoints of Sources, as Thanos's --rule.partial-response,
// --target.partial-response, --metric-metadata.partial-response and
// --exemplar.partial-response set them.
type SourcesPartialResponse struct {
	// Rules is that of rules and alerts; Targets of targets and target
	// metadata.
	Rules, Targets, Metadata, Exemplars bool
}

// fromSources runs get with the request's dedup, partial_response
// (partial when it does not say), replicaLabels[] and storeMatch[], and
// makes its answer the result. (The routes run it within the request's
// deadline and a slot of the concurrency gate, see limited.)
func (a *API) fromSources(r *http.Request, partial bool, get func(ctx context.Context, req fanout.Request) (any, []error, error)) result {
	if a.opts.Sources == nil {
		return result{err: &apiError{errorAvailable, errors.New("this query reads no rules, targets, metadata or exemplars")}}
	}
	defaults := a.opts.Defaults
	defaults.PartialResponse = partial
	opts, apiErr := a.optionsOver(r, defaults)
	if apiErr != nil {
		return result{err: apiErr}
	}
	data, warns, err := get(r.Context(), fanout.Request{
		PartialResponse: opts.PartialResponse,
		Dedup:           opts.Dedup,
		ReplicaLabels:   opts.ReplicaLabels,
		StoreMatchers:   opts.StoreMatchers,
	})
	warnings := make([]string, 0, len(warns))
	for _, w := range warns {
		warnings = append(warnings, w.Error())
	}
	switch {
	case fanout.IsBadQuery(err):
		return result{err: invalidParam("query", errors.Unwrap(err)), warnings: warnings}
	case err != nil:
		return result{err: queryError(err), warnings: warnings}
	}
	return result{data: data, warnings: warnings}
}

// rulesRequest reads the filters /api/v1/rules takes.
func rulesRequest(r *http.Request) (*rulespb.RulesRequest, *apiError) {
	req := &rulespb.RulesRequest{
		MatcherString: r.Form["match[]"],
		RuleName:      r.Form["rule_name[]"],
		RuleGroup:     r.Form["rule_group[]"],
		File:          r.Form["file[]"],
	}
	switch typ := strings.ToLower(r.FormValue("type")); typ {
	case "":
	case "alert":
		req.Type = rulespb.RulesRequest_ALERT
	case "record":
		req.Type = rulespb.RulesRequest_RECORD
	default:
		return nil, invalidParam("type", fmt.Errorf("not supported value %q", typ))
	}
	if _, err := selectors(req.MatcherString); err != nil {
		return nil, invalidParam("match[]", err)
	}
	return req, nil
}

func (a *API) rules(r *http.Request) result {
	req, apiErr := rulesRequest(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	excludeAlerts, apiErr := boolParam(r, "exclude_alerts")
	if apiErr != nil {
		return result{err: apiErr}
	}
	return a.fromSources(r, a.opts.SourcesPartialResponse.Rules, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		groups, warnings, err := a.opts.Sources.RuleGroups(ctx, req, opts)
		if excludeAlerts {
			for _, g := range groups {
				for _, rule := range g.Rules {
					if alert := rule.GetAlert(); alert != nil {
						alert.Alerts = nil
					}
				}
			}
		}
		return &rulespb.RuleGroups{Groups: groups}, warnings, err
	})
}

// alertsData is the data of /api/v1/alerts.
type alertsData struct {
	Alerts []*rulespb.AlertInstance `json:"alerts"`
}

func (a *API) alerts(r *http.Request) result {
	return a.fromSources(r, a.opts.SourcesPartialResponse.Rules, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		groups, warnings, err := a.opts.Sources.RuleGroups(ctx, &rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}, opts)
		return alertsData{Alerts: fanout.Alerts(groups)}, warnings, err
	})
}

func (a *API) targets(r *http.Request) result {
	req := &targetspb.TargetsRequest{}
	switch state := strings.ToLower(r.FormValue("state")); state {
	case "", "any":
	case "active":
		req.State = targetspb.TargetsRequest_ACTIVE
	case "dropped":
		req.State = targetspb.TargetsRequest_DROPPED
	default:
		return result{err: invalidParam("state", fmt.Errorf("not supported value %q", state))}
	}
	scrapePool := r.FormValue("scrapePool")
	return a.fromSources(r, a.opts.SourcesPartialResponse.Targets, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		return a.opts.Sources.TargetDiscovery(ctx, req, scrapePool, opts)
	})
}

func (a *API) metadata(r *http.Request) result {
	limit, apiErr := numberParam(r, "limit", -1)
	if apiErr != nil {
		return result{err: apiErr}
	}
	limitPerMetric, apiErr := numberParam(r, "limit_per_metric", -1)
	if apiErr != nil {
		return result{err: apiErr}
	}
	metric := r.FormValue("metric")
	return a.fromSources(r, a.opts.SourcesPartialResponse.Metadata, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		return a.opts.Sources.Metadata(ctx, metric, limit, limitPerMetric, opts)
	})
}

func (a *API) targetMetadata(r *http.Request) result {
	limit, apiErr := numberParam(r, "limit", -1)
	if apiErr != nil {
		return result{err: apiErr}
	}
	req := &targetmetapb.Request{Metric: r.FormValue("metric"), MatchTarget: r.FormValue("match_target"), Limit: int64(max(limit, 0))}
	if req.MatchTarget != "" {
		if _, err := parser.ParseMetricSelector(req.MatchTarget); err != nil {
			return result{err: invalidParam("match_target", err)}
		}
	}
	if limit == 0 {
		return result{data: []targetmetapb.Entry{}}
	}
	return a.fromSources(r, a.opts.SourcesPartialResponse.Targets, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		return a.opts.Sources.TargetMetadataEntries(ctx, req, opts)
	})
}

func (a *API) queryExemplars(r *http.Request) result {
	start, apiErr := timeParam(r, "start", minTime)
	if apiErr != nil {
		return result{err: apiErr}
	}
	end, apiErr := timeParam(r, "end", maxTime)
	if apiErr != nil {
		return result{err: apiErr}
	}
	if end.Before(start) {
		return result{err: badData(errors.New("end timestamp must not be before start timestamp"))}
	}
	query := r.FormValue("query")
	expr, err := parser.ParseExpr(query)
	if err != nil {
		return result{err: badData(err)}
	}
	if len(parser.ExtractSelectors(expr)) == 0 {
		return result{data: []*exemplarspb.ExemplarData{}}
	}
	req := &exemplarspb.ExemplarsRequest{Query: query, Start: timestamp.FromTime(start), End: timestamp.FromTime(end)}
	return a.fromSources(r, a.opts.SourcesPartialResponse.Exemplars, func(ctx context.Context, opts fanout.Request) (any, []error, error) {
		return a.opts.Sources.ExemplarData(ctx, req, opts)
	})
}

// boolParam reads an optional boolean parameter; absent is false.
func boolParam(r *http.Request, name string) (bool, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return false, invalidParam(name, err)
	}
	return b, nil
}

// numberParam reads an optional integer parameter, def when absent.
func numberParam(r *http.Request, name string, def int) (int, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badData(fmt.Errorf("%s must be a number", name))
	}
	return n, nil
}
