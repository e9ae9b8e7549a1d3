package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
	"github.com/thanos-io/promql-engine/api"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb/prompb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/queryapi"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// responseBatchSize is how many series a remote query is asked to pack per
// message, as Thanos's querier asks.
const responseBatchSize = 64

// grpcTarget runs queries on another query's Query API.
type grpcTarget struct {
	endpoint Endpoint
	opts     Options
}

func (g *grpcTarget) newQuery(_ context.Context, opts promql.QueryOpts, plan api.RemoteQuery, start, end time.Time, step time.Duration) (promql.Query, error) {
	q := &query{target: g, plan: plan, start: start, end: end, step: step, samples: stats.NewQuerySamples(false)}
	if opts != nil {
		q.lookback = opts.LookbackDelta()
	}
	return q, nil
}

// query is one remote query; it implements promql.Query.
type query struct {
	target         *grpcTarget
	plan           api.RemoteQuery
	start, end     time.Time
	step, lookback time.Duration
	samples        *stats.QuerySamples

	mu     sync.Mutex // Cancel may come from another goroutine
	cancel context.CancelFunc
}

// Exec implements promql.Query. A failed engine is a warning naming it
// with partial response, unless it failed on a limit or on the query
// itself, which the other engines would fail on too.
func (q *query) Exec(ctx context.Context) *promql.Result {
	ctx, cancel := context.WithCancel(ctx)
	q.mu.Lock()
	q.cancel = cancel
	q.mu.Unlock()
	defer cancel()
	partial := q.target.opts.PartialResponse
	callCtx, stop := store.CallContext(ctx, partial)
	defer stop(nil)

	value, warnings, err := q.exec(callCtx, ctx)
	if err == nil {
		return &promql.Result{Value: value, Warnings: warnings}
	}
	switch {
	case ctx.Err() != nil:
		err = context.Cause(ctx) // the request's own end
	case callCtx.Err() != nil:
		err = context.Cause(callCtx) // ended early, for the others to answer in time
	}
	err = fmt.Errorf("remote query %s: %w", q.target.endpoint, err)
	if partial && !store.IsLimit(err) && !errors.Is(err, errBadQuery) && ctx.Err() == nil {
		warnings.Add(err)
		return &promql.Result{Value: q.empty(), Warnings: warnings}
	}
	return &promql.Result{Err: err, Warnings: warnings}
}

// errBadQuery marks a query the remote engine refused as invalid.
var errBadQuery = errors.New("invalid query")

func (q *query) instant() bool { return q.start.Equal(q.end) }

func (q *query) empty() parser.Value {
	if q.instant() {
		return promql.Vector{}
	}
	return promql.Matrix{}
}

// exec calls the endpoint; parent is the request's context, to tell its
// own end from the call's.
func (q *query) exec(ctx, parent context.Context) (parser.Value, annotations.Annotations, error) {
	var (
		client  = q.target.endpoint.QueryClient()
		opts    = q.target.opts
		plan, _ = querypb.NewJSONEncodedPlan(q.plan) // the query string says the same
		timeout = timeoutSeconds(parent)
		recv    func() (*querypb.QueryResponse, error)
	)
	if q.instant() {
		stream, err := client.Query(ctx, &querypb.QueryRequest{
			Query:                 q.plan.String(),
			QueryPlan:             plan,
			TimeSeconds:           q.start.Unix(),
			TimeoutSeconds:        timeout,
			ReplicaLabels:         opts.ReplicaLabels,
			EnableDedup:           opts.Dedup,
			EnablePartialResponse: opts.PartialResponse,
			LookbackDeltaSeconds:  int64(q.lookback / time.Second),
			ResponseBatchSize:     responseBatchSize,
		})
		if err != nil {
			return nil, nil, statusError(err)
		}
		recv = stream.Recv
	} else {
		stream, err := client.QueryRange(ctx, &querypb.QueryRangeRequest{
			Query:                 q.plan.String(),
			QueryPlan:             plan,
			StartTimeSeconds:      q.start.Unix(),
			EndTimeSeconds:        q.end.Unix(),
			IntervalSeconds:       int64(q.step / time.Second),
			TimeoutSeconds:        timeout,
			ReplicaLabels:         opts.ReplicaLabels,
			EnableDedup:           opts.Dedup,
			EnablePartialResponse: opts.PartialResponse,
			LookbackDeltaSeconds:  int64(q.lookback / time.Second),
			ResponseBatchSize:     responseBatchSize,
		})
		if err != nil {
			return nil, nil, statusError(err)
		}
		// Both streams carry the same messages under two names.
		recv = func() (*querypb.QueryResponse, error) {
			m, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			return queryapi.AsInstant(m), nil
		}
	}
	return q.receive(recv)
}

// receive reads the answer, bounding what it holds: at most
// Options.MaxSamples samples, and per series of a range no more samples
// than the range has steps.
func (q *query) receive(recv func() (*querypb.QueryResponse, error)) (parser.Value, annotations.Annotations, error) {
	var (
		warnings annotations.Annotations
		vector   promql.Vector
		matrix   promql.Matrix
		total    int
		b        labels.ScratchBuilder
	)
	add := func(ts *prompb.TimeSeries) error {
		if ts == nil {
			return nil
		}
		n := len(ts.Samples) + len(ts.Histograms)
		total += n
		if max := q.target.opts.MaxSamples; max > 0 && total > max {
			return store.NewLimitError(fmt.Sprintf("the answer holds more than %d samples (--query.max-samples)", max))
		}
		lset := copyLabels(&b, ts.Labels)
		if q.instant() {
			s, err := instantSample(ts, q.start.UnixMilli())
			if err != nil {
				return err
			}
			s.Metric = lset
			vector = append(vector, s)
			return nil
		}
		if steps := q.steps(); n > steps {
			return fmt.Errorf("a series of %d samples in a range of %d steps", n, steps)
		}
		s, err := rangeSeries(ts)
		if err != nil {
			return err
		}
		s.Metric = lset
		matrix = append(matrix, s)
		return nil
	}
	for {
		msg, err := recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, warnings, statusError(err)
		}
		switch r := msg.Result.(type) {
		case *querypb.QueryResponse_Warnings:
			warnings.Add(fmt.Errorf("remote query %s: %s", q.target.endpoint, r.Warnings))
		case *querypb.QueryResponse_Stats:
			if r.Stats != nil {
				q.samples.TotalSamples = r.Stats.SamplesTotal
				q.samples.PeakSamples = int(min(r.Stats.PeakSamples, math.MaxInt32))
			}
		case *querypb.QueryResponse_Timeseries:
			if err := add(r.Timeseries); err != nil {
				return nil, warnings, err
			}
		case *querypb.QueryResponse_TimeseriesBatch:
			if r.TimeseriesBatch == nil {
				continue
			}
			for _, ts := range r.TimeseriesBatch.Series {
				if err := add(ts); err != nil {
					return nil, warnings, err
				}
			}
		}
	}
	if q.instant() {
		return vector, warnings, nil
	}
	return matrix, warnings, nil
}

func (q *query) steps() int {
	if q.step <= 0 {
		return 1
	}
	return int(q.end.Sub(q.start)/q.step) + 1
}

// copyLabels copies the labels out of the receive buffer, which gogo's
// decoding points them into.
func copyLabels(b *labels.ScratchBuilder, zl []labelpb.ZLabel) labels.Labels {
	b.Reset()
	for _, l := range zl {
		b.Add(strings.Clone(l.Name), strings.Clone(l.Value))
	}
	b.Sort()
	return b.Labels()
}

// instantSample is the one sample of an instant answer's series, at the
// evaluation time: a remote engine may stamp it otherwise.
func instantSample(ts *prompb.TimeSeries, t int64) (promql.Sample, error) {
	switch {
	case len(ts.Samples) > 0:
		return promql.Sample{T: t, F: ts.Samples[0].Value}, nil
	case len(ts.Histograms) > 0:
		h, err := floatHistogram(ts.Histograms[0])
		return promql.Sample{T: t, H: h}, err
	}
	return promql.Sample{}, errors.New("a series without a sample in an instant answer")
}

func rangeSeries(ts *prompb.TimeSeries) (promql.Series, error) {
	s := promql.Series{}
	if len(ts.Samples) > 0 {
		s.Floats = make([]promql.FPoint, 0, len(ts.Samples))
	}
	for i, p := range ts.Samples {
		if i > 0 && p.Timestamp <= ts.Samples[i-1].Timestamp {
			return s, errors.New("a series whose samples are out of order")
		}
		s.Floats = append(s.Floats, promql.FPoint{T: p.Timestamp, F: p.Value})
	}
	for i, hp := range ts.Histograms {
		if i > 0 && hp.Timestamp <= ts.Histograms[i-1].Timestamp {
			return s, errors.New("a series whose histograms are out of order")
		}
		h, err := floatHistogram(hp)
		if err != nil {
			return s, err
		}
		s.Histograms = append(s.Histograms, promql.HPoint{T: hp.Timestamp, H: h})
	}
	return s, nil
}

func floatHistogram(hp prompb.Histogram) (*histogram.FloatHistogram, error) {
	h := prompb.FromProtoHistogram(hp)
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("invalid histogram: %w", err)
	}
	return h, nil
}

// statusError turns a gRPC status into an error the HTTP API classifies
// as Prometheus's would: a timeout, a cancellation, a limit or a bad query.
func statusError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
	case codes.Canceled:
		return fmt.Errorf("%w: %s", context.Canceled, st.Message())
	case codes.ResourceExhausted:
		return store.NewLimitError(st.Message())
	case codes.InvalidArgument:
		return fmt.Errorf("%w: %s", errBadQuery, st.Message())
	}
	return errors.New(st.Message())
}

// timeoutSeconds is the time left to the request's deadline, rounded up,
// which the remote query is given; 0 (none) without a deadline.
func timeoutSeconds(ctx context.Context) int64 {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(int64(math.Ceil(time.Until(deadline).Seconds())), 1)
}

// Close implements promql.Query: the answer is not pooled, so closing only
// ends the call.
func (q *query) Close() { q.Cancel() }

func (q *query) Statement() parser.Statement { return nil }

func (q *query) Stats() *stats.Statistics { return &stats.Statistics{Samples: q.samples} }

func (q *query) Cancel() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cancel != nil {
		q.cancel()
	}
}

func (q *query) String() string { return q.plan.String() }
