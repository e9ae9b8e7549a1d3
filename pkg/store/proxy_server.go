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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ProxyServer serves a Proxy over the Store and Info APIs, so that one
// querier can use others as its stores.
type ProxyServer struct {
	proxy   *Proxy
	clients func() []Client
}

// NewProxyServer returns the Store and Info API server of proxy, whose
// stores clients returns.
func NewProxyServer(proxy *Proxy) *ProxyServer {
	return &ProxyServer{proxy: proxy, clients: proxy.clients}
}

// Series implements storepb.StoreServer. The copies of one series from
// several stores go out as one series holding all their chunks.
func (s *ProxyServer) Series(req *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	set := s.proxy.Series(srv.Context(), req, nil)
	defer set.Close()

	batchSize := max(int(req.ResponseBatchSize), 1)
	var (
		batch []*storepb.Series
		cur   *storepb.Series
		lset  labels.Labels
	)
	flush := func(force bool) error {
		if len(batch) == 0 || (!force && len(batch) < batchSize) {
			return nil
		}
		var resp *storepb.SeriesResponse
		if batchSize == 1 {
			resp = storepb.NewSeriesResponse(batch[0])
		} else {
			resp = storepb.NewBatchResponse(batch)
		}
		batch = nil
		return srv.Send(resp)
	}
	for set.Next() {
		l, chunks := set.At()
		if cur != nil && labels.Equal(l, lset) {
			cur.Chunks = append(cur.Chunks, chunks...)
			continue
		}
		if cur != nil {
			batch = append(batch, cur)
			if err := flush(false); err != nil {
				return err
			}
		}
		lset = l
		cur = &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(l), Chunks: slices.Clip(chunks)}
	}
	if err := set.Err(); err != nil {
		return status.Error(codes.Aborted, err.Error())
	}
	if cur != nil {
		batch = append(batch, cur)
	}
	if err := flush(true); err != nil {
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
// time ranges, as a Thanos querier announces itself.
func (s *ProxyServer) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	var (
		lsets      []labels.Labels
		mint, maxt int64 = math.MaxInt64, math.MinInt64
	)
	for _, c := range s.clients() {
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
		},
	}, nil
}

func errorStrings(errs []error) []string {
	out := make([]string, 0, len(errs))
	for _, err := range errs {
		out = append(out, fmt.Sprint(err))
	}
	return out
}
