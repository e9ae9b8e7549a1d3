package prometheus

import (
	"context"
	"errors"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// APIs serves a Prometheus's rules, alerts, targets, metric metadata and
// exemplars over Thanos's Rules, Targets, Metadata and Exemplars APIs, read
// from Prometheus's HTTP API. External labels are added where Thanos's
// sidecar adds them: to the labels of rules, of targets (discovered and
// final) and of the series exemplars belong to; alert instances, as
// Prometheus evaluated them, are left alone.
type APIs struct {
	client *Client
	target *Target
}

// NewAPIs returns the servers for the Prometheus behind client; target
// supplies its external labels.
func NewAPIs(client *Client, target *Target) *APIs {
	return &APIs{client: client, target: target}
}

// Frame sizes of the answers: a Thanos querier appends the frames it
// receives, so splitting keeps every message small whatever the size of
// the Prometheus.
const (
	targetsPerFrame = 500
	metricsPerFrame = 1000
)

// Info announces the Store API (as target does) and the four APIs here, as
// a Thanos sidecar announces them, and, in a header, the target metadata
// API.
func (a *APIs) Info(ctx context.Context, req *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	resp, err := a.target.Info(ctx, req)
	if err != nil {
		return nil, err
	}
	// Outside a gRPC call (a test calling Info directly) there is no
	// header to set.
	_ = grpc.SetHeader(ctx, metadata.Pairs(targetmetapb.APIHeader, targetmetapb.APIHeaderValue))
	resp.Rules = &infopb.RulesInfo{}
	resp.Targets = &infopb.TargetsInfo{}
	resp.MetricMetadata = &infopb.MetricMetadataInfo{}
	// An exemplar's time is what the target exposed, which may be older
	// than any sample Prometheus holds: any time may have exemplars.
	resp.Exemplars = &infopb.ExemplarsInfo{MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	return resp, nil
}

// Rules implements rulespb.RulesServer: one frame per group. The type and
// the name filters go to Prometheus, which applies them as the querier
// would; match[] is the querier's, as it matches external labels too.
func (a *APIs) Rules(req *rulespb.RulesRequest, srv rulespb.Rules_RulesServer) error {
	ctx := srv.Context()
	external, err := a.external(ctx)
	if err != nil {
		return err
	}
	params := url.Values{}
	if req.Type != rulespb.RulesRequest_ALL {
		params.Set("type", strings.ToLower(req.Type.String()))
	}
	for name, vs := range map[string][]string{"rule_name[]": req.RuleName, "rule_group[]": req.RuleGroup, "file[]": req.File} {
		if len(vs) > 0 {
			params[name] = vs
		}
	}
	var data rulespb.RuleGroups
	if _, err := a.client.api(ctx, "/api/v1/rules", params, &data); err != nil {
		return prometheusError(ctx, "read rules", err)
	}
	for _, g := range data.Groups {
		if g == nil {
			continue
		}
		// Prometheus has no partial responses: a rule group fails whole.
		g.PartialResponseStrategy = storepb.PartialResponseStrategy_ABORT
		for _, r := range g.Rules {
			r.SetLabels(labelpb.ExtendSortedLabels(r.GetLabels(), external))
		}
		if err := srv.Send(rulespb.NewRuleGroupRulesResponse(g)); err != nil {
			return err
		}
	}
	return nil
}

// Targets implements targetspb.TargetsServer.
func (a *APIs) Targets(req *targetspb.TargetsRequest, srv targetspb.Targets_TargetsServer) error {
	ctx := srv.Context()
	external, err := a.external(ctx)
	if err != nil {
		return err
	}
	params := url.Values{}
	if req.State != targetspb.TargetsRequest_ANY {
		params.Set("state", strings.ToLower(req.State.String()))
	}
	var data targetspb.TargetDiscovery
	if _, err := a.client.api(ctx, "/api/v1/targets", params, &data); err != nil {
		return prometheusError(ctx, "read targets", err)
	}
	for _, t := range data.ActiveTargets {
		t.SetDiscoveredLabels(labelpb.ExtendSortedLabels(t.DiscoveredLabels.PromLabels(), external))
		t.SetLabels(labelpb.ExtendSortedLabels(t.Labels.PromLabels(), external))
	}
	for _, t := range data.DroppedTargets {
		t.SetDiscoveredLabels(labelpb.ExtendSortedLabels(t.DiscoveredLabels.PromLabels(), external))
	}
	active, dropped := data.ActiveTargets, data.DroppedTargets
	for first := true; first || len(active) > 0 || len(dropped) > 0; first = false {
		frame := &targetspb.TargetDiscovery{ActiveTargets: []*targetspb.ActiveTarget{}, DroppedTargets: []*targetspb.DroppedTarget{}}
		n := min(len(active), targetsPerFrame)
		frame.ActiveTargets, active = active[:n:n], active[n:]
		n = min(len(dropped), targetsPerFrame-n)
		frame.DroppedTargets, dropped = dropped[:n:n], dropped[n:]
		if err := srv.Send(targetspb.NewTargetsResponse(frame)); err != nil {
			return err
		}
	}
	return nil
}

// MetricMetadata implements metadatapb.MetadataServer. A negative limit is
// none, as Thanos sends it.
func (a *APIs) MetricMetadata(req *metadatapb.MetricMetadataRequest, srv metadatapb.Metadata_MetricMetadataServer) error {
	ctx := srv.Context()
	params := url.Values{}
	if req.Metric != "" {
		params.Set("metric", req.Metric)
	}
	if req.Limit >= 0 {
		params.Set("limit", strconv.Itoa(int(req.Limit)))
	}
	var data map[string][]metadatapb.Meta
	if _, err := a.client.api(ctx, "/api/v1/metadata", params, &data); err != nil {
		return prometheusError(ctx, "read metric metadata", err)
	}
	names := slices.Sorted(maps.Keys(data))
	for len(names) > 0 {
		n := min(len(names), metricsPerFrame)
		frame := make(map[string][]metadatapb.Meta, n)
		for _, name := range names[:n] {
			frame[name] = data[name]
		}
		names = names[n:]
		if err := srv.Send(metadatapb.NewMetricMetadataResponse(metadatapb.FromMetadataMap(frame))); err != nil {
			return err
		}
	}
	return nil
}

// Exemplars implements exemplarspb.ExemplarsServer: one frame per series.
// Matchers on external labels are decided here, as for Series: Prometheus
// knows nothing of those labels.
func (a *APIs) Exemplars(req *exemplarspb.ExemplarsRequest, srv exemplarspb.Exemplars_ExemplarsServer) error {
	ctx := srv.Context()
	external, err := a.external(ctx)
	if err != nil {
		return err
	}
	query, ok, err := exemplarQuery(req.Query, external)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	start := max(req.Start, a.target.MinTime())
	if !ok || start > req.End {
		return nil
	}
	params := url.Values{"query": {query}, "start": {formatMillis(start)}, "end": {formatMillis(req.End)}}
	var data []*exemplarspb.ExemplarData
	if _, err := a.client.api(ctx, "/api/v1/query_exemplars", params, &data); err != nil {
		return prometheusError(ctx, "read exemplars", err)
	}
	for _, d := range data {
		if d == nil {
			continue
		}
		d.SetSeriesLabels(labelpb.ExtendSortedLabels(d.SeriesLabels.PromLabels(), external))
		if err := srv.Send(exemplarspb.NewExemplarsResponse(d)); err != nil {
			return err
		}
	}
	return nil
}

// TargetMetadata implements targetmetapb.Server from Prometheus's
// /api/v1/targets/metadata, the targets' labels with the external labels,
// in frames of metricsPerFrame entries. Matchers of match_target on
// external labels are decided here.
func (a *APIs) TargetMetadata(req *targetmetapb.Request, srv targetmetapb.Stream) error {
	ctx := srv.Context()
	external, err := a.external(ctx)
	if err != nil {
		return err
	}
	params := url.Values{}
	if req.Metric != "" {
		params.Set("metric", req.Metric)
	}
	if req.Limit > 0 {
		params.Set("limit", strconv.FormatInt(req.Limit, 10))
	}
	if req.MatchTarget != "" {
		sel, err := parser.ParseMetricSelector(req.MatchTarget)
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		rest, ok, err := externalMatchers(sel, external)
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if !ok {
			return nil
		}
		if len(rest) > 0 {
			params.Set("match_target", selectorString(rest))
		}
	}
	var data []targetmetapb.Entry
	if _, err := a.client.api(ctx, "/api/v1/targets/metadata", params, &data); err != nil {
		return prometheusError(ctx, "read target metadata", err)
	}
	for i := range data {
		data[i].Target = labelpb.ExtendSortedLabels(data[i].Target, external)
	}
	for len(data) > 0 {
		n := min(len(data), metricsPerFrame)
		if err := srv.Send(&targetmetapb.Response{Entries: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (a *APIs) external(ctx context.Context) (labels.Labels, error) {
	external, err := a.target.ExternalLabels(ctx)
	if err != nil {
		return labels.EmptyLabels(), status.Error(codes.Unavailable, err.Error())
	}
	return external, nil
}

// exemplarQuery returns the query to ask Prometheus for the exemplars of
// query: its selectors without the matchers on external labels, which are
// decided here. ok is false when every selector excludes this replica. A
// query that names no external label goes as it is.
func exemplarQuery(query string, external labels.Labels) (string, bool, error) {
	expr, err := parser.ParseExpr(query)
	if err != nil {
		return "", false, err
	}
	selectors := parser.ExtractSelectors(expr)
	if len(selectors) == 0 {
		return "", false, errors.New("no series selector in the exemplar query")
	}
	named := false
	for _, sel := range selectors {
		for _, m := range sel {
			named = named || external.Has(m.Name)
		}
	}
	if !named {
		return query, true, nil
	}
	var parts []string
	for _, sel := range selectors {
		kept, matches, err := externalMatchers(sel, external)
		if err != nil {
			return "", false, err
		}
		if matches {
			parts = append(parts, selectorString(selective(kept)))
		}
	}
	if len(parts) == 0 {
		return "", false, nil
	}
	return strings.Join(parts, " + "), true, nil
}

// externalMatchers decides the matchers of sel on external labels: ok is
// false when they rule this replica out; rest are the others.
func externalMatchers(sel []*labels.Matcher, external labels.Labels) (rest []*labels.Matcher, ok bool, err error) {
	pms, err := storepb.PromMatchersToMatchers(sel...)
	if err != nil {
		return nil, false, err
	}
	return matchExternal(pms, external)
}

func selectorString(ms []*labels.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// prometheusError turns a failed read of Prometheus's HTTP API into a gRPC
// status that says what failed; the caller's own cancellation stays the
// reason when that is what ended it.
func prometheusError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Errorf(codes.Unavailable, "%s from Prometheus: %v", what, err)
}
