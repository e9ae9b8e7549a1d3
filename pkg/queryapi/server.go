// Package queryapi serves the Query API (thanos.Query): PromQL evaluated
// here for a query above, Thanos's or Tandem's, that pushes parts of its
// queries down in distributed mode.
package queryapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/promql-engine/query"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/engine"
	tquery "github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// Engines are the engines a request may name.
type Engines interface {
	Get(engine.Name) (engine.Engine, error)
}

// Options are what the server is built from.
type Options struct {
	Engines Engines
	// Queryable returns the data the engine reads, for one request's
	// options.
	Queryable func(tquery.Options) storage.Queryable
	// Defaults are the options of a request that sets none: the replica
	// labels, and the limits, which a request cannot change.
	Defaults tquery.Options
	// Timeout bounds each query, its wait for a slot included; a request's
	// timeout can only shorten it. Zero means no bound.
	Timeout time.Duration
	// MaxConcurrent bounds how many queries of this API evaluate at once;
	// more wait. Zero means no bound.
	MaxConcurrent int
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server implements querypb.QueryServer.
type Server struct {
	opts Options
	gate chan struct{}
}

// New returns the server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	if opts.MaxConcurrent > 0 {
		s.gate = make(chan struct{}, opts.MaxConcurrent)
	}
	return s
}

// request is what Query and QueryRange share.
type request struct {
	query           string
	plan            *querypb.QueryPlan
	timeoutSeconds  int64
	replicaLabels   []string
	storeMatchers   []querypb.StoreMatchers
	dedup, partial  bool
	shard           *storepb.ShardInfo
	lookbackSeconds int64
	engine          querypb.EngineType
	batchSize       int64
}

// maxBatchSize bounds the series of one answer message, whatever the
// request asks.
const maxBatchSize = 1024

// maxPoints bounds the steps of a range query, as the HTTP API does.
const maxPoints = 11000

// Query implements querypb.QueryServer.
func (s *Server) Query(req *querypb.QueryRequest, srv querypb.Query_QueryServer) error {
	r := request{
		query: req.Query, plan: req.QueryPlan, timeoutSeconds: req.TimeoutSeconds,
		replicaLabels: req.ReplicaLabels, storeMatchers: req.StoreMatchers,
		dedup: req.EnableDedup, partial: req.EnablePartialResponse, shard: req.ShardInfo,
		lookbackSeconds: req.LookbackDeltaSeconds, engine: req.Engine, batchSize: req.ResponseBatchSize,
	}
	ts := s.opts.Now()
	if req.TimeSeconds != 0 {
		ts = time.Unix(req.TimeSeconds, 0)
	}
	return s.serve(srv.Context(), r, answer{
		send: func(m *querypb.QueryResponse) error { return srv.Send(m) },
	}, func(ctx context.Context, e engine.Engine, q storage.Queryable, opts promql.QueryOpts) (promql.Query, error) {
		return e.NewInstantQueryFromPlan(ctx, q, opts, r.plan.GetJson(), r.query, ts)
	})
}

// QueryRange implements querypb.QueryServer.
func (s *Server) QueryRange(req *querypb.QueryRangeRequest, srv querypb.Query_QueryRangeServer) error {
	r := request{
		query: req.Query, plan: req.QueryPlan, timeoutSeconds: req.TimeoutSeconds,
		replicaLabels: req.ReplicaLabels, storeMatchers: req.StoreMatchers,
		dedup: req.EnableDedup, partial: req.EnablePartialResponse, shard: req.ShardInfo,
		lookbackSeconds: req.LookbackDeltaSeconds, engine: req.Engine, batchSize: req.ResponseBatchSize,
	}
	start, end := time.Unix(req.StartTimeSeconds, 0), time.Unix(req.EndTimeSeconds, 0)
	step := time.Duration(req.IntervalSeconds) * time.Second
	switch {
	case end.Before(start):
		return status.Error(codes.InvalidArgument, "end time before start time")
	case step <= 0:
		return status.Error(codes.InvalidArgument, "zero or negative query resolution step widths are not accepted")
	case end.Sub(start)/step > maxPoints:
		return status.Error(codes.InvalidArgument, "exceeded maximum resolution of 11,000 points per timeseries")
	}
	return s.serve(srv.Context(), r, answer{
		send: func(m *querypb.QueryResponse) error { return srv.Send(AsRange(m)) },
	}, func(ctx context.Context, e engine.Engine, q storage.Queryable, opts promql.QueryOpts) (promql.Query, error) {
		return e.NewRangeQueryFromPlan(ctx, q, opts, r.plan.GetJson(), r.query, start, end, step)
	})
}

type newQuery func(context.Context, engine.Engine, storage.Queryable, promql.QueryOpts) (promql.Query, error)

// serve evaluates a request and streams the answer: the warnings, the
// series in batches, the statistics. The query is made, run and closed
// inside the request's deadline and an evaluation slot, and closed only
// once its answer is sent: until then its points may be the engine's.
func (s *Server) serve(ctx context.Context, r request, a answer, newQuery newQuery) error {
	timeout := s.opts.Timeout
	if t := time.Duration(r.timeoutSeconds) * time.Second; t > 0 && (timeout <= 0 || t < timeout) {
		timeout = t
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	qopts, e, err := s.options(r)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	qopts.LateWarnings = &tquery.Warnings{}
	if err := s.acquire(ctx); err != nil {
		return statusOf(err)
	}
	defer s.release()

	var opts promql.QueryOpts
	if r.lookbackSeconds > 0 {
		opts = promql.NewPrometheusQueryOpts(false, time.Duration(r.lookbackSeconds)*time.Second)
	}
	qry, err := newQuery(ctx, e, s.opts.Queryable(qopts), opts)
	if err != nil {
		if ctx.Err() != nil {
			return statusOf(err)
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	res.Warnings.Merge(qopts.LateWarnings.Annotations())
	if res.Err != nil {
		s.opts.Logger.Debug("Query API query failed", "query", r.query, "err", res.Err)
		return statusOf(res.Err)
	}
	a.batchSize = int(min(max(r.batchSize, 1), maxBatchSize))
	for _, w := range res.Warnings.AsErrors() {
		if err := a.warning(w); err != nil {
			return err
		}
	}
	if err := a.value(res.Value); err != nil {
		return err
	}
	return a.stats(qry)
}

// options are the request's query options and engine.
func (s *Server) options(r request) (tquery.Options, engine.Engine, error) {
	qopts := s.opts.Defaults
	qopts.Dedup, qopts.PartialResponse = r.dedup, r.partial
	if len(r.replicaLabels) > 0 {
		qopts.ReplicaLabels = r.replicaLabels
	}
	if r.shard != nil && r.shard.TotalShards > 1 {
		return qopts, nil, errors.New("sharded queries are not supported")
	}
	if r.lookbackSeconds < 0 {
		return qopts, nil, fmt.Errorf("negative lookback delta %ds", r.lookbackSeconds)
	}
	ms, err := querypb.StoreMatchersToLabelMatchers(r.storeMatchers)
	if err != nil {
		return qopts, nil, fmt.Errorf("store matchers: %w", err)
	}
	qopts.StoreMatchers = ms
	var name engine.Name
	switch r.engine {
	case querypb.EngineType_default:
	case querypb.EngineType_prometheus:
		name = engine.Prometheus
	case querypb.EngineType_thanos:
		name = engine.Thanos
	default:
		return qopts, nil, fmt.Errorf("unknown engine %d", r.engine)
	}
	e, err := s.opts.Engines.Get(name)
	return qopts, e, err
}

func (s *Server) acquire(ctx context.Context) error {
	if s.gate == nil {
		return nil
	}
	select {
	case s.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a free query slot: %w", ctx.Err())
	}
}

func (s *Server) release() {
	if s.gate != nil {
		<-s.gate
	}
}

// statusOf is the gRPC status of a failed query: a query above tells a
// limit (never a mere warning), a timeout and a cancellation from other
// failures by it.
func statusOf(err error) error {
	var (
		tooMany       promql.ErrTooManySamples
		thanosTooMany query.ErrMaxSamplesExceeded
		timeout       promql.ErrQueryTimeout
		canceled      promql.ErrQueryCanceled
	)
	code := codes.Aborted // as Thanos answers a failed query
	switch {
	case store.IsLimit(err), errors.As(err, &tooMany), errors.As(err, &thanosTooMany):
		code = codes.ResourceExhausted
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// AnnounceIn wraps the Info server of a process that serves the Query API,
// so that its Info says so.
func AnnounceIn(info infopb.InfoServer) infopb.InfoServer { return announcing{info} }

type announcing struct{ infopb.InfoServer }

func (a announcing) Info(ctx context.Context, req *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	resp, err := a.InfoServer.Info(ctx, req)
	if err != nil {
		return nil, err
	}
	resp.Query = &infopb.QueryAPIInfo{}
	return resp, nil
}
