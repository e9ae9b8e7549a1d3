package store

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ProxyServer serves a Proxy over the Store and Info APIs, so that one
// querier can use others as its stores.
type ProxyServer struct {
	proxy   *Proxy
	clients func() []Client
	limits  ServerLimits
}

// ServerLimits bound what one Series call to a ProxyServer may read from
// the stores below; zero means no bound.
type ServerLimits struct {
	MaxSeries, MaxSamples int64
}

// NewProxyServer returns the Store and Info API server of proxy, whose
// stores clients returns.
func NewProxyServer(proxy *Proxy, limits ServerLimits) *ProxyServer {
	return &ProxyServer{proxy: proxy, clients: proxy.clients, limits: limits}
}

// maxResponseBatch bounds the series of one response frame, whatever the
// request asks; maxResponseBytes bounds its chunk bytes, well below gRPC's
// default 4 MiB message limit.
const (
	maxResponseBatch = 1024
	maxResponseBytes = 1 << 20
)

// Series implements storepb.StoreServer. Each copy of a series the stores
// hold goes out as a series of its own: joined, two replicas' chunks would
// read as one replica to the querier above, which could no longer fill one
// replica's gaps from the other. Series are sent as they arrive, in frames
// of at most the requested batch size.
func (s *ProxyServer) Series(req *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	limiter := NewLimiter(s.limits.MaxSeries, s.limits.MaxSamples)
	set := s.proxy.Series(srv.Context(), req, SeriesOptions{Limiter: limiter})
	defer set.Close()

	batchSize := int(min(max(req.ResponseBatchSize, 1), maxResponseBatch))
	var (
		batch []*storepb.Series
		bytes int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var resp *storepb.SeriesResponse
		if batchSize == 1 {
			resp = storepb.NewSeriesResponse(batch[0])
		} else {
			resp = storepb.NewBatchResponse(batch)
		}
		batch, bytes = batch[:0:0], 0
		return srv.Send(resp)
	}
	for set.Next() {
		lset, copies := set.At()
		zl := labelpb.ZLabelsFromPromLabels(lset)
		for _, chunks := range copies {
			for _, c := range chunks {
				bytes += chunkSize(c)
			}
			batch = append(batch, &storepb.Series{Labels: zl, Chunks: chunks})
			if len(batch) >= batchSize || bytes >= maxResponseBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := set.Err(); err != nil {
		code := codes.Aborted
		if IsLimit(err) {
			code = codes.ResourceExhausted
		}
		return status.Error(code, err.Error())
	}
	if err := flush(); err != nil {
		return err
	}
	for _, w := range set.Warnings() {
		if err := srv.Send(storepb.NewWarnSeriesResponse(w)); err != nil {
			return err
		}
	}
	return nil
}

// LabelNames implements storepb.StoreServer.
func (s *ProxyServer) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	names, warnings, err := s.proxy.LabelNames(ctx, req, nil)
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &storepb.LabelNamesResponse{Names: names, Warnings: errorStrings(warnings)}, nil
}

// LabelValues implements storepb.StoreServer.
func (s *ProxyServer) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	values, warnings, err := s.proxy.LabelValues(ctx, req, nil)
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &storepb.LabelValuesResponse{Values: values, Warnings: errorStrings(warnings)}, nil
}

// Info implements infopb.InfoServer: the union of the stores' label sets and
// time ranges, as a Thanos querier announces itself. A header tells a querier
// above that Series keeps replicas' copies apart.
func (s *ProxyServer) Info(ctx context.Context, _ *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	// Outside a gRPC call (a test calling Info directly) there is no
	// header to set; the answer is the same.
	_ = grpc.SetHeader(ctx, metadata.Pairs(discovery.CopiesHeader, discovery.CopiesSeparate,
		targetmetapb.APIHeader, targetmetapb.APIHeaderValue))
	var (
		lsets      []labels.Labels
		mint, maxt int64 = math.MaxInt64, math.MinInt64
		tsdbs      []infopb.TSDBInfo
	)
	for _, c := range s.clients() {
		tsdbs = append(tsdbs, tsdbInfos(c)...)
		for _, ls := range c.LabelSets() {
			if !slices.ContainsFunc(lsets, func(o labels.Labels) bool { return labels.Equal(o, ls) }) {
				lsets = append(lsets, ls)
			}
		}
		cmin, cmax := c.TimeRange()
		mint, maxt = min(mint, cmin), max(maxt, cmax)
	}
	if mint > maxt {
		// No stores yet: claim everything, so a querier above keeps asking.
		mint, maxt = math.MinInt64, math.MaxInt64
	}
	slices.SortFunc(lsets, labels.Compare)
	return &infopb.InfoResponse{
		ComponentType: "query",
		LabelSets:     labelpb.ZLabelSetsFromPromLabels(lsets...),
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      maxt,
			SupportsWithoutReplicaLabels: true,
			TsdbInfos:                    tsdbs,
		},
		// The query serves these APIs over its endpoints (pkg/fanout).
		Rules:          &infopb.RulesInfo{},
		Targets:        &infopb.TargetsInfo{},
		MetricMetadata: &infopb.MetricMetadataInfo{},
		Exemplars:      &infopb.ExemplarsInfo{MinTime: math.MinInt64, MaxTime: math.MaxInt64},
	}, nil
}

// tsdbInfos are the TSDBs behind a store, by which a distributed engine
// above partitions the stores: as the endpoints of pkg/discovery know them,
// or one per label set for other clients.
func tsdbInfos(c Client) []infopb.TSDBInfo {
	if t, ok := c.(interface{ TSDBInfos() []infopb.TSDBInfo }); ok {
		return t.TSDBInfos()
	}
	mint, maxt := c.TimeRange()
	return discovery.TSDBInfosOf(c.LabelSets(), mint, maxt)
}

func errorStrings(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, fmt.Sprint(err))
	}
	return out
}
