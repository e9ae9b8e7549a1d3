package fanout

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
)

func metadataCall(req *metadatapb.MetricMetadataRequest) call[*metadatapb.MetricMetadataResponse] {
	return call[*metadatapb.MetricMetadataResponse]{
		open: func(ctx context.Context, e Endpoint) (store.FrameStream[*metadatapb.MetricMetadataResponse], error) {
			return metadatapb.NewMetadataClient(e.Conn()).MetricMetadata(ctx, req)
		},
		warning: (*metadatapb.MetricMetadataResponse).GetWarning,
	}
}

// metadata returns every endpoint's metadata, each metric's entries
// without repeats.
func (p *Proxy) metadata(ctx context.Context, req *metadatapb.MetricMetadataRequest, r Request) (map[string][]metadatapb.Meta, []error, error) {
	out := map[string][]metadatapb.Meta{}
	eps, none := p.selected(discovery.MetricMetadataAPI, nil, r.StoreMatchers)
	if len(eps) == 0 {
		return out, none, nil
	}
	answers, warnings, err := gather(ctx, p, eps, partial(req.PartialResponseStrategy), metadataCall(req))
	seen := map[string]map[metadatapb.Meta]bool{}
	for _, frames := range answers {
		for _, f := range frames {
			m := f.GetMetadata()
			if m == nil {
				continue
			}
			for name, entry := range m.Metadata {
				if seen[name] == nil {
					seen[name] = map[metadatapb.Meta]bool{}
				}
				for _, meta := range entry.Metas {
					if !seen[name][meta] {
						seen[name][meta] = true
						out[name] = append(out[name], meta)
					}
				}
			}
		}
	}
	return out, warnings, err
}

// MetricMetadata implements metadatapb.MetadataServer: the metadata of
// every endpoint, joined, then the warnings.
func (p *Proxy) MetricMetadata(req *metadatapb.MetricMetadataRequest, srv metadatapb.Metadata_MetricMetadataServer) error {
	md, warnings, err := p.metadata(srv.Context(), req, Request{PartialResponse: partial(req.PartialResponseStrategy)})
	if err != nil {
		return serverError(err)
	}
	md = limitMetrics(md, int(req.Limit))
	frames := batched(slices.Sorted(maps.Keys(md)), func(names []string) *metadatapb.MetricMetadataResponse {
		frame := make(map[string][]metadatapb.Meta, len(names))
		for _, name := range names {
			frame[name] = md[name]
		}
		return metadatapb.NewMetricMetadataResponse(metadatapb.FromMetadataMap(frame))
	})
	return answer(srv.Send, frames, warnings, metadatapb.NewWarningMetadataResponse)
}

// Metadata returns the metadata of metric (every metric if empty) of every
// endpoint that r selects, as Prometheus answers /api/v1/metadata: each
// metric's distinct type, help and unit; at most limit metrics (negative:
// no limit), which ones each endpoint picks, as Prometheus does, then the
// first by name; and limitPerMetric entries each (zero or negative: no
// limit). Metadata carry no replica labels: the replicas' copies are
// equal, and one stays.
func (p *Proxy) Metadata(ctx context.Context, metric string, limit, limitPerMetric int, r Request) (map[string][]metadatapb.Meta, []error, error) {
	req := &metadatapb.MetricMetadataRequest{Metric: metric, Limit: int32(max(-1, min(limit, 1<<30))), PartialResponseStrategy: r.strategy()}
	md, warnings, err := p.metadata(ctx, req, r)
	if err != nil {
		return nil, warnings, err
	}
	for name, metas := range md {
		slices.SortFunc(metas, func(a, b metadatapb.Meta) int {
			return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Help, b.Help), cmp.Compare(a.Unit, b.Unit))
		})
		if limitPerMetric > 0 && len(metas) > limitPerMetric {
			md[name] = metas[:limitPerMetric]
		}
	}
	return limitMetrics(md, limit), warnings, nil
}

// limitMetrics keeps the first limit metrics by name; negative: all.
func limitMetrics(md map[string][]metadatapb.Meta, limit int) map[string][]metadatapb.Meta {
	if limit < 0 || len(md) <= limit {
		return md
	}
	for _, name := range slices.Sorted(maps.Keys(md))[limit:] {
		delete(md, name)
	}
	return md
}
