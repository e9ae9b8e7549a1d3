package prometheus

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	_ "github.com/tandem-metrics/tandem/pkg/store" // the gogo-safe gRPC codec
	"github.com/tandem-metrics/tandem/pkg/store/blocks"
)

// Store serves one Prometheus over the Thanos Store API.
type Store struct {
	client       *Client
	target       *Target
	blocks       *blocks.Dir
	logger       *slog.Logger
	metrics      *Metrics
	maxFrameSize uint64
	blockErr     changeLog // of opening blocks
	newest       newestSample
}

// NewStore returns a Store API server for the Prometheus that client talks
// to; target supplies its external labels. With dir, the blocks Prometheus
// has persisted are read from there; nil reads everything through remote
// read.
func NewStore(client *Client, target *Target, dir *blocks.Dir, logger *slog.Logger, metrics *Metrics) *Store {
	return &Store{client: client, target: target, blocks: dir, logger: logger, metrics: metrics, maxFrameSize: DefaultMaxFrameSize}
}

// requestStep is the step of the query that r reads for, in milliseconds,
// or 0.
func requestStep(r *storepb.SeriesRequest) int64 {
	if qh := r.QueryHints; qh != nil && qh.StepMillis != 0 {
		return qh.StepMillis
	}
	return r.Step
}

// readHints are the hints of a remote read over [mint, maxt] for r.
// Prometheus's TSDB cuts every chunk at the hints' range and picks a
// block's chunks by it; the head's it picks by the query's (see readStart).
func readHints(r *storepb.SeriesRequest, mint, maxt int64) *prompb.ReadHints {
	h := &prompb.ReadHints{StartMs: mint, EndMs: maxt, StepMs: requestStep(r), RangeMs: r.Range}
	if qh := r.QueryHints; qh != nil {
		if qh.Func != nil {
			h.Func = qh.Func.Name
		}
		if qh.Grouping != nil {
			h.By, h.Grouping = qh.Grouping.By, qh.Grouping.Labels
		}
		if qh.Range != nil {
			h.RangeMs = qh.Range.Millis
		}
	}
	if r.SkipChunks {
		// Prometheus's TSDB reads no chunks for the "series" function.
		h.Func = "series"
	}
	return h
}

func chunkEncoding(t prompb.Chunk_Encoding) (storepb.Chunk_Encoding, error) {
	switch t {
	case prompb.Chunk_XOR:
		return storepb.Chunk_XOR, nil
	case prompb.Chunk_HISTOGRAM:
		return storepb.Chunk_HISTOGRAM, nil
	case prompb.Chunk_FLOAT_HISTOGRAM:
		return storepb.Chunk_FLOAT_HISTOGRAM, nil
	}
	return 0, fmt.Errorf("unsupported chunk encoding %v from Prometheus", t)
}

// selection reads the external labels and decides the matchers on them:
// ok is false when they exclude this replica, and rest are the matchers
// left for Prometheus. Its errors are gRPC statuses.
func (s *Store) selection(ctx context.Context, ms []storepb.LabelMatcher) (external labels.Labels, rest []*labels.Matcher, ok bool, err error) {
	external, err = s.target.ExternalLabels(ctx)
	if err != nil {
		return external, nil, false, status.Error(codes.Unavailable, err.Error())
	}
	rest, ok, err = matchExternal(ms, external)
	if err != nil {
		return external, nil, false, status.Error(codes.InvalidArgument, err.Error())
	}
	return external, rest, ok, nil
}

// LabelNames returns the label names of the matching series, external
// labels included.
func (s *Store) LabelNames(ctx context.Context, r *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	external, matchers, ok, err := s.selection(ctx, r.Matchers)
	if err != nil {
		return nil, err
	}
	start := max(r.Start, s.target.MinTime())
	if !ok || start > r.End {
		return &storepb.LabelNamesResponse{}, nil
	}
	names, warnings, err := s.client.LabelNames(ctx, matchers, start, r.End, 0)
	if err != nil {
		return nil, prometheusError(ctx, "read label names", err)
	}
	if len(names) > 0 {
		external.Range(func(l labels.Label) { names = append(names, l.Name) })
	}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(r.WithoutReplicaLabels, n) })
	sort.Strings(names)
	names = limit(slices.Compact(names), r.Limit)
	return &storepb.LabelNamesResponse{Names: names, Warnings: warnings}, nil
}

// LabelValues returns the values of one label over the matching series; an
// external label has its one value.
func (s *Store) LabelValues(ctx context.Context, r *storepb.LabelValuesRequest) (*storepb.LabelValuesResponse, error) {
	if r.Label == "" {
		return nil, status.Error(codes.InvalidArgument, "label name is empty")
	}
	if slices.Contains(r.WithoutReplicaLabels, r.Label) {
		return &storepb.LabelValuesResponse{}, nil
	}
	external, matchers, ok, err := s.selection(ctx, r.Matchers)
	if err != nil {
		return nil, err
	}
	start := max(r.Start, s.target.MinTime())
	if !ok || start > r.End {
		return &storepb.LabelValuesResponse{}, nil
	}
	if v := external.Get(r.Label); v != "" {
		// The value is known; it applies only if some series match.
		names, warnings, err := s.client.LabelNames(ctx, matchers, start, r.End, 1)
		if err != nil {
			return nil, prometheusError(ctx, "read label names", err)
		}
		if len(names) == 0 {
			return &storepb.LabelValuesResponse{Warnings: warnings}, nil
		}
		return &storepb.LabelValuesResponse{Values: []string{v}, Warnings: warnings}, nil
	}
	values, warnings, err := s.client.LabelValues(ctx, r.Label, matchers, start, r.End, r.Limit)
	if err != nil {
		return nil, prometheusError(ctx, "read label values", err)
	}
	sort.Strings(values)
	return &storepb.LabelValuesResponse{Values: limit(values, r.Limit), Warnings: warnings}, nil
}

func limit(s []string, n int64) []string {
	if n > 0 && n < math.MaxInt && int(n) < len(s) {
		return s[:n]
	}
	return s
}
