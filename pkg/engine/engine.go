// Package engine holds the PromQL engines a query evaluates with:
// Prometheus's, and Thanos's promql-engine, which can also run distributed,
// pushing the parts of a query it can down to other queries' Query APIs.
package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/promql-engine/api"
	thanos "github.com/thanos-io/promql-engine/engine"
	"github.com/thanos-io/promql-engine/logicalplan"
)

// Name names an engine as --query.promql-engine and the Query API do.
type Name string

const (
	Prometheus Name = "prometheus"
	Thanos     Name = "thanos"
)

// Mode is --query.mode: local evaluates every query here, distributed
// lets Thanos's engine push parts down to other queries.
type Mode string

const (
	Local       Mode = "local"
	Distributed Mode = "distributed"
)

// Options are the engines' common options and the choice between them.
type Options struct {
	promql.EngineOpts
	// Default is the engine of a request that names none. Distributed mode
	// needs Thanos's engine, and makes it the default.
	Default Name
	Mode    Mode
}

// Engine makes PromQL queries. Queries from a logical plan (the Query API
// carries them) are made by Thanos's engine; Prometheus's evaluates the
// query string, which says the same.
type Engine interface {
	promql.QueryEngine
	NewInstantQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, plan []byte, qs string, ts time.Time) (promql.Query, error)
	NewRangeQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, plan []byte, qs string, start, end time.Time, step time.Duration) (promql.Query, error)
}

// Set is a process's engines.
type Set struct {
	def        Name
	prometheus *promql.Engine
	thanos     *thanosEngine
}

// New builds the engines. Prometheus's registers its metrics on opts.Reg
// as they are (prometheus_engine_*); Thanos's are told apart by a mode
// label.
func New(opts Options) (*Set, error) {
	if opts.Mode == "" {
		opts.Mode = Local
	}
	if opts.Default == "" {
		opts.Default = Prometheus
	}
	if opts.Mode == Distributed {
		opts.Default = Thanos
	}
	switch {
	case opts.Mode != Local && opts.Mode != Distributed:
		return nil, fmt.Errorf("query mode %q: want local or distributed", opts.Mode)
	case opts.Default != Prometheus && opts.Default != Thanos:
		return nil, fmt.Errorf("PromQL engine %q: want prometheus or thanos", opts.Default)
	}
	s := &Set{def: opts.Default, prometheus: promql.NewEngine(opts.EngineOpts)}
	thanosOpts := func(mode Mode) thanos.Opts {
		// Its selections decode their series on this many goroutines, half
		// the CPUs by default: here they do the work read-ahead does for
		// Prometheus's engine (see streamer), so they get every CPU.
		o := thanos.Opts{EngineOpts: opts.EngineOpts, EnableAnalysis: true, DecodingConcurrency: runtime.GOMAXPROCS(0)}
		if o.Reg != nil {
			o.Reg = prometheus.WrapRegistererWith(prometheus.Labels{"mode": string(mode)}, o.Reg)
		}
		return o
	}
	s.thanos = &thanosEngine{local: thanos.New(thanosOpts(Local)), fallback: s.prometheus}
	if opts.Mode == Distributed {
		s.thanos.distributed = thanos.NewDistributedEngine(thanosOpts(Distributed))
	}
	return s, nil
}

// Default is the engine of requests that name none.
func (s *Set) Default() Engine {
	e, _ := s.Get("")
	return e
}

// Get returns the engine called name, or the default for "".
func (s *Set) Get(name Name) (Engine, error) {
	if name == "" {
		name = s.def
	}
	switch name {
	case Prometheus:
		return prometheusEngine{s.prometheus}, nil
	case Thanos:
		return s.thanos, nil
	}
	return nil, fmt.Errorf("unknown PromQL engine %q", name)
}

// Close stops the engines.
func (s *Set) Close() error { return s.prometheus.Close() }

// Queryable is the data of one request for a distributed engine: the
// stores it reads, and the remote engines it may push parts of the query
// down to. Other engines read it as the stores alone.
type Queryable struct {
	storage.Queryable
	Remote interface {
		api.RemoteEndpoints
		Len() int
	}
}

// Streaming returns q with its local reads streamed (see streamer).
func (q Queryable) Streaming() storage.Queryable {
	q.Queryable = streaming(q.Queryable)
	return q
}

// A streamer can read its series as they stream in rather than read each
// series' samples ahead into memory, which pays off when PromQL evaluates
// a selection series by series, as Prometheus's engine does. Thanos's
// engine opens an iterator on every series of a selection before it reads
// from any, and decodes them on its own goroutines: read ahead, every
// series of a selection would be held decoded at once.
type streamer interface {
	Streaming() storage.Queryable
}

// streaming returns q as a streamer streams, or q.
func streaming(q storage.Queryable) storage.Queryable {
	if s, ok := q.(streamer); ok {
		return s.Streaming()
	}
	return q
}

type prometheusEngine struct{ *promql.Engine }

func (p prometheusEngine) NewInstantQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, _ []byte, qs string, ts time.Time) (promql.Query, error) {
	return p.NewInstantQuery(ctx, q, opts, qs, ts)
}

func (p prometheusEngine) NewRangeQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, _ []byte, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	return p.NewRangeQuery(ctx, q, opts, qs, start, end, step)
}

// thanosEngine is Thanos's engine, locally or distributed, falling back to
// Prometheus's for what it does not implement, as Thanos's querier does.
type thanosEngine struct {
	local       *thanos.Engine
	distributed *thanos.DistributedEngine // nil in local mode
	fallback    *promql.Engine
}

// remote returns the remote engines of a distributed query over q, or nil
// to evaluate it here: in local mode, or when there is no engine to push
// down to (the distributed engine would then answer nothing).
func (t *thanosEngine) remote(q storage.Queryable) api.RemoteEndpoints {
	if t.distributed == nil {
		return nil
	}
	if dq, ok := q.(Queryable); ok && dq.Remote != nil && dq.Remote.Len() > 0 {
		return dq.Remote
	}
	return nil
}

func (t *thanosEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	var (
		qry promql.Query
		err error
	)
	if r := t.remote(q); r != nil {
		qry, err = t.distributed.MakeInstantQuery(ctx, streaming(q), r, opts, qs, ts)
	} else {
		qry, err = t.local.MakeInstantQuery(ctx, streaming(q), queryOpts(opts), qs, ts)
	}
	if thanos.IsUnimplemented(err) {
		return t.fallback.NewInstantQuery(ctx, q, opts, qs, ts)
	}
	return qry, err
}

func (t *thanosEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	var (
		qry promql.Query
		err error
	)
	if r := t.remote(q); r != nil {
		qry, err = t.distributed.MakeRangeQuery(ctx, streaming(q), r, opts, qs, start, end, step)
	} else {
		qry, err = t.local.MakeRangeQuery(ctx, streaming(q), queryOpts(opts), qs, start, end, step)
	}
	if thanos.IsUnimplemented(err) {
		return t.fallback.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	}
	return qry, err
}

// NewInstantQueryFromPlan evaluates the plan if it decodes, else qs.
func (t *thanosEngine) NewInstantQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, plan []byte, qs string, ts time.Time) (promql.Query, error) {
	root, ok := decodePlan(plan)
	if !ok {
		return t.NewInstantQuery(ctx, q, opts, qs, ts)
	}
	return fromPlan(func() (promql.Query, error) {
		if r := t.remote(q); r != nil {
			return t.distributed.MakeInstantQueryFromPlan(ctx, streaming(q), r, opts, root, ts)
		}
		return t.local.MakeInstantQueryFromPlan(ctx, streaming(q), queryOpts(opts), root, ts)
	}, func() (promql.Query, error) { return t.fallback.NewInstantQuery(ctx, q, opts, qs, ts) })
}

// NewRangeQueryFromPlan evaluates the plan if it decodes, else qs.
func (t *thanosEngine) NewRangeQueryFromPlan(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, plan []byte, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	root, ok := decodePlan(plan)
	if !ok {
		return t.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	}
	return fromPlan(func() (promql.Query, error) {
		if r := t.remote(q); r != nil {
			return t.distributed.MakeRangeQueryFromPlan(ctx, streaming(q), r, opts, root, start, end, step)
		}
		return t.local.MakeRangeQueryFromPlan(ctx, streaming(q), queryOpts(opts), root, start, end, step)
	}, func() (promql.Query, error) { return t.fallback.NewRangeQuery(ctx, q, opts, qs, start, end, step) })
}

// errBadPlan is a plan that decodes but that the engine cannot build.
var errBadPlan = errors.New("invalid query plan")

// fromPlan makes a query from a plan, falling back to Prometheus's engine
// for what Thanos's does not implement. A plan comes over the wire: one
// that decodes into nodes the engine cannot build is an error, not a crash.
func fromPlan(build, fallback func() (promql.Query, error)) (qry promql.Query, err error) {
	defer func() {
		if r := recover(); r != nil {
			qry, err = nil, fmt.Errorf("%w: %v", errBadPlan, r)
		}
	}()
	qry, err = build()
	if thanos.IsUnimplemented(err) {
		return fallback()
	}
	return qry, err
}

// decodePlan decodes a logical plan in Thanos's JSON encoding; ok is false
// for no plan or one that does not decode.
func decodePlan(b []byte) (root logicalplan.Node, ok bool) {
	if len(b) == 0 {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			root, ok = nil, false
		}
	}()
	root, err := logicalplan.Unmarshal(b)
	return root, err == nil && root != nil
}

// queryOpts carries a request's look-back and per-step statistics to
// Thanos's engine.
func queryOpts(opts promql.QueryOpts) *thanos.QueryOpts {
	if opts == nil {
		return &thanos.QueryOpts{}
	}
	return &thanos.QueryOpts{LookbackDeltaParam: opts.LookbackDelta(), EnablePerStepStatsParam: opts.EnablePerStepStats()}
}
