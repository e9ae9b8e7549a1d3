// Package storetest runs real Store API servers over real Prometheus TSDB
// data on loopback gRPC, for the tests of the proxy, the queryable and the
// HTTP API.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// Storage is what a Server reads: a TSDB (tsdb.DB) or anything like it.
type Storage interface {
	storage.Queryable
	storage.ChunkQueryable
}

// Options say how a Server presents its data.
type Options struct {
	// ExternalLabels are added to every series, as a sidecar does.
	ExternalLabels labels.Labels
	// WithoutReplicaLabels makes the server honour without_replica_labels.
	WithoutReplicaLabels bool
	// MinTime and MaxTime are the time range the server announces; zero
	// values mean all of time.
	MinTime, MaxTime int64
	// FramePerChunk sends every chunk of a series in a frame of its own,
	// as stores that split long series do.
	FramePerChunk bool
	// Warning, if set, is sent as a warning frame before the series.
	Warning string
	// BeforeSeries, if set, runs at the start of every Series call with the
	// call's context; an error it returns fails the call.
	BeforeSeries func(ctx context.Context, req *storepb.SeriesRequest) error
}

// Server is a Store API (and Info API) server on 127.0.0.1.
type Server struct {
	db   Storage
	opts Options
	addr string
	grpc *grpc.Server
}

// Start serves db on a loopback port until the test ends.
func Start(t testing.TB, db Storage, opts Options) *Server {
	t.Helper()
	s, err := NewServer(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// NewServer serves db on a loopback port until Stop, for benchmarks that
// run outside a test.
func NewServer(db Storage, opts Options) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if opts.MinTime == 0 && opts.MaxTime == 0 {
		opts.MinTime, opts.MaxTime = math.MinInt64, math.MaxInt64
	}
	s := &Server{db: db, opts: opts, addr: lis.Addr().String(), grpc: grpc.NewServer()}
	storepb.RegisterStoreServer(s.grpc, s)
	infopb.RegisterInfoServer(s.grpc, s)
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop ends the server at once, failing calls in flight.
func (s *Server) Stop() { s.grpc.Stop() }

// Series implements storepb.StoreServer from a TSDB chunk querier.
func (s *Server) Series(req *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	ctx := srv.Context()
	if s.opts.BeforeSeries != nil {
		if err := s.opts.BeforeSeries(ctx, req); err != nil {
			return err
		}
	}
	matchers, ok, err := s.seriesMatchers(req.Matchers)
	if err != nil || !ok {
		return err
	}
	q, err := s.db.ChunkQuerier(req.MinTime, req.MaxTime)
	if err != nil {
		return fmt.Errorf("chunk querier: %w", err)
	}
	defer q.Close()

	hints := &storage.SelectHints{Start: req.MinTime, End: req.MaxTime}
	if req.SkipChunks {
		hints.Func = "series"
	}
	set := q.Select(ctx, true, hints, matchers...)
	var out []*storepb.Series
	for set.Next() {
		series := set.At()
		pb := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(s.outputLabels(series.Labels(), req.WithoutReplicaLabels))}
		if !req.SkipChunks {
			it := series.Iterator(nil)
			for it.Next() {
				meta := it.At()
				typ, err := store.ChunkType(meta.Chunk.Encoding())
				if err != nil {
					return err
				}
				pb.Chunks = append(pb.Chunks, storepb.AggrChunk{
					MinTime: meta.MinTime,
					MaxTime: meta.MaxTime,
					Raw:     &storepb.Chunk{Type: typ, Data: slices.Clone(meta.Chunk.Bytes())},
				})
			}
			if err := it.Err(); err != nil {
				return fmt.Errorf("iterate chunks: %w", err)
			}
		}
		out = append(out, pb)
	}
	if err := set.Err(); err != nil {
		return fmt.Errorf("select: %w", err)
	}
	for _, w := range set.Warnings().AsErrors() {
		if err := srv.Send(storepb.NewWarnSeriesResponse(w)); err != nil {
			return err
		}
	}
	// External labels and stripped replica labels can change the order.
	slices.SortStableFunc(out, func(a, b *storepb.Series) int {
		return labels.Compare(a.PromLabels(), b.PromLabels())
	})
	if s.opts.Warning != "" {
		if err := srv.Send(storepb.NewWarnSeriesResponse(errors.New(s.opts.Warning))); err != nil {
			return err
		}
	}
	if s.opts.FramePerChunk {
		return sendFramePerChunk(srv, out)
	}
	return send(srv, out, int(req.ResponseBatchSize))
}

func sendFramePerChunk(srv storepb.Store_SeriesServer, series []*storepb.Series) error {
	for _, s := range series {
		for i := range s.Chunks {
			frame := &storepb.Series{Labels: s.Labels, Chunks: s.Chunks[i : i+1]}
			if err := srv.Send(storepb.NewSeriesResponse(frame)); err != nil {
				return err
			}
		}
	}
	return nil
}

func send(srv storepb.Store_SeriesServer, series []*storepb.Series, batchSize int) error {
	if batchSize <= 1 {
		for _, s := range series {
			if err := srv.Send(storepb.NewSeriesResponse(s)); err != nil {
				return err
			}
		}
		return nil
	}
	for len(series) > 0 {
		n := min(batchSize, len(series))
		if err := srv.Send(storepb.NewBatchResponse(series[:n])); err != nil {
			return err
		}
		series = series[n:]
	}
	return nil
}

// seriesMatchers settles the matchers on external labels here, as a sidecar
// does, and returns the rest for the TSDB; ok is false when no series can
// match.
func (s *Server) seriesMatchers(lms []storepb.LabelMatcher) (rest []*labels.Matcher, ok bool, _ error) {
	matchers, err := storepb.MatchersToPromMatchers(lms...)
	if err != nil {
		return nil, false, err
	}
	for _, m := range matchers {
		if s.opts.ExternalLabels.Has(m.Name) {
			if !m.Matches(s.opts.ExternalLabels.Get(m.Name)) {
				return nil, false, nil
			}
			continue
		}
		rest = append(rest, m)
	}
	if len(rest) == 0 {
		rest = []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+")}
	}
	return rest, true, nil
}

func (s *Server) outputLabels(lset labels.Labels, without []string) labels.Labels {
	b := labels.NewBuilder(lset)
	s.opts.ExternalLabels.Range(func(l labels.Label) { b.Set(l.Name, l.Value) })
	if s.opts.WithoutReplicaLabels {
		b.Del(without...)
	}
	return b.Labels()
}

// LabelNames implements storepb.StoreServer.
func (s *Server) LabelNames(ctx context.Context, req *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	matchers, ok, err := s.seriesMatchers(req.Matchers)
	if err != nil || !ok {
		return &storepb.LabelNamesResponse{}, err
	}
	q, err := s.db.Querier(req.Start, req.End)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	names, _, err := q.LabelNames(ctx, nil, matchers...)
	if err != nil {
		return nil, err
	}
	if len(names) > 0 {
		s.opts.ExternalLabels.Range(func(l labels.Label) { names = append(names, l.Name) })
	}
	if s.opts.WithoutReplicaLabels {
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(req.WithoutReplicaLabels, n) })
	}
	slices.Sort(names)
	return &storepb.LabelNamesResponse{Names: slices.Compact(names)}, nil
}

// LabelValues implements storepb.StoreServer.
func (s *Server) LabelValues(ctx context.Context, req *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	matchers, ok, err := s.seriesMatchers(req.Matchers)
	if err != nil || !ok {
		return &storepb.LabelValuesResponse{}, err
	}
	if s.opts.ExternalLabels.Has(req.Label) {
		return &storepb.LabelValuesResponse{Values: []string{s.opts.ExternalLabels.Get(req.Label)}}, nil
	}
	q, err := s.db.Querier(req.Start, req.End)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	values, _, err := q.LabelValues(ctx, req.Label, nil, matchers...)
	if err != nil {
		return nil, err
	}
	return &storepb.LabelValuesResponse{Values: values}, nil
}

// Info implements infopb.InfoServer, so discovery can find the server.
func (s *Server) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	return &infopb.InfoResponse{
		ComponentType: "sidecar",
		LabelSets:     labelpb.ZLabelSetsFromPromLabels(s.opts.ExternalLabels),
		Store: &infopb.StoreInfo{
			MinTime:                      s.opts.MinTime,
			MaxTime:                      s.opts.MaxTime,
			SupportsWithoutReplicaLabels: s.opts.WithoutReplicaLabels,
		},
	}, nil
}
