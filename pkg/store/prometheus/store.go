package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	_ "github.com/tandem-metrics/tandem/pkg/store" // the gogo-safe gRPC codec
)

// Store serves one Prometheus over the Thanos Store API.
type Store struct {
	client       *Client
	target       *Target
	logger       *slog.Logger
	metrics      *Metrics
	maxFrameSize uint64
}

// NewStore returns a Store API server for the Prometheus that client talks
// to; target supplies its external labels.
func NewStore(client *Client, target *Target, logger *slog.Logger, metrics *Metrics) *Store {
	return &Store{client: client, target: target, logger: logger, metrics: metrics, maxFrameSize: DefaultMaxFrameSize}
}

// Series streams the series that match r, as Prometheus's remote read sends
// them: chunks are passed on as they arrive, never re-encoded or collected.
func (s *Store) Series(r *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	ctx := srv.Context()
	external, matchers, ok, err := s.selection(ctx, r.Matchers)
	if err != nil {
		return err
	}
	mint := max(r.MinTime, s.target.MinTime())
	if !ok || mint > r.MaxTime {
		return nil
	}
	q := &prompb.Query{
		StartTimestampMs: mint,
		EndTimestampMs:   r.MaxTime,
		Matchers:         toPromMatchers(selective(matchers)),
		Hints:            readHints(r, mint),
	}
	body, err := s.client.RemoteRead(ctx, q)
	if err != nil {
		return remoteReadError(ctx, err)
	}
	defer body.Close()

	out := newSender(srv, r.ResponseBatchSize, r.Limit)
	shape := newShaper(external, r.WithoutReplicaLabels)
	order := newOrderer(shape.inserted, out.send)
	frames := NewFrameReader(body, s.maxFrameSize)
	var (
		conflict string
		frameDec frameDecoder
	)
	relay := func(cs *chunkedSeries) error {
		key, final, c := shape.shape(cs.Labels)
		if c != "" {
			conflict = c
		}
		series := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(final)}
		if !r.SkipChunks {
			// One allocation for the series' chunks and one for their
			// data headers; the data stays in the frame.
			series.Chunks = make([]storepb.AggrChunk, len(cs.Chunks))
			raws := make([]storepb.Chunk, len(cs.Chunks))
			for i, c := range cs.Chunks {
				enc, err := chunkEncoding(c.Type)
				if err != nil {
					return status.Error(codes.Internal, err.Error())
				}
				raws[i] = storepb.Chunk{Type: enc, Data: c.Data}
				series.Chunks[i] = storepb.AggrChunk{MinTime: c.MinTimeMs, MaxTime: c.MaxTimeMs, Raw: &raws[i]}
			}
		}
		return order.push(key, final, series)
	}
	for !out.full() {
		frame, err := frames.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return remoteReadError(ctx, err)
		}
		s.metrics.frameBytes.Add(float64(len(frame)))
		if err := frameDec.decode(frame, relay); err != nil {
			if errors.Is(err, errBadFrame) {
				return status.Error(codes.Internal, err.Error())
			}
			return err
		}
	}
	if err := order.flush(); err != nil {
		return err
	}
	if out.unsorted && conflict != "" {
		msg := fmt.Sprintf("series label %q collides with an external or replica label of %s: series may be out of order", conflict, s.client.URL())
		s.logger.Warn("series order not preserved", "label", conflict)
		if err := srv.Send(storepb.NewWarnSeriesResponse(errors.New(msg))); err != nil {
			return err
		}
	}
	return out.flush()
}

func readHints(r *storepb.SeriesRequest, mint int64) *prompb.ReadHints {
	h := &prompb.ReadHints{StartMs: mint, EndMs: r.MaxTime, StepMs: r.Step, RangeMs: r.Range}
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
		if qh.StepMillis != 0 {
			h.StepMs = qh.StepMillis
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

// remoteReadError keeps the caller's cancellation as the reason when that is
// what ended the read.
func remoteReadError(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Errorf(codes.Unavailable, "remote read from Prometheus: %v", err)
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
		return nil, remoteReadError(ctx, err)
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
			return nil, remoteReadError(ctx, err)
		}
		if len(names) == 0 {
			return &storepb.LabelValuesResponse{Warnings: warnings}, nil
		}
		return &storepb.LabelValuesResponse{Values: []string{v}, Warnings: warnings}, nil
	}
	values, warnings, err := s.client.LabelValues(ctx, r.Label, matchers, start, r.End, r.Limit)
	if err != nil {
		return nil, remoteReadError(ctx, err)
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
