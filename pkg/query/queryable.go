// Package query is the storage.Queryable that Prometheus's PromQL engine
// reads through: it asks the stores via the store proxy and merges the
// replicas of each series into one.
package query

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/readahead"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// Options are the choices one request makes about how to read the stores.
type Options struct {
	// Dedup merges series that differ only by replica labels into one.
	Dedup bool
	// ReplicaLabels name the labels that tell replicas apart.
	ReplicaLabels []string
	// PartialResponse turns failed stores into warnings instead of errors.
	PartialResponse bool
	// StoreMatchers, if any, restrict which stores are asked (storeMatch[]).
	StoreMatchers [][]*labels.Matcher
	// MaxSeries and MaxSamples bound how many series and samples one query
	// may read from the stores, summed over its selections and replicas;
	// zero means no bound.
	MaxSeries, MaxSamples int
	// MaxConcurrentSelects bounds how many selections of one query read
	// from the stores at once; zero means no bound.
	MaxConcurrentSelects int
	// TwoPhaseSpan makes the selections that span longer than it two-phase
	// selections (see twophase.go) where PromQL reads series by series, as
	// Prometheus's engine does, and LateWarnings is set; zero makes none.
	TwoPhaseSpan time.Duration
	// LateWarnings collects the warnings of the stores that arrive after
	// PromQL has read those of their selection.
	LateWarnings *Warnings
}

// removesReplicaLabels reports whether the stores are asked to strip the
// replica labels.
func (o Options) removesReplicaLabels() bool { return o.Dedup && len(o.ReplicaLabels) > 0 }

func (o Options) withoutReplicaLabels() []string {
	if o.removesReplicaLabels() {
		return o.ReplicaLabels
	}
	return nil
}

// Queryable reads the stores of a proxy with one request's options.
type Queryable struct {
	proxy   *store.Proxy
	opts    Options
	limiter *store.Limiter
	gate    *selectGate // for MaxConcurrentSelects
	// streamed turns reading ahead off and makes the series' iterators
	// lean.
	streamed bool
}

// NewQueryable returns a Queryable over proxy. PromQL engines take one per
// request, as the options and the limits are the request's.
func NewQueryable(proxy *store.Proxy, opts Options) *Queryable {
	return &Queryable{proxy: proxy, opts: opts, limiter: store.NewLimiter(int64(opts.MaxSeries), int64(opts.MaxSamples)), gate: newSelectGate(opts.MaxConcurrentSelects)}
}

// Streaming returns q, sharing its limits, with every series read as it
// streams in from the stores instead of read ahead, through iterators that
// decode a sample at a time: for an engine that opens all the series of a
// selection before it reads any, and keeps their iterators open.
func (q *Queryable) Streaming() storage.Queryable {
	s := *q
	s.streamed = true
	return &s
}

// Querier implements storage.Queryable.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{proxy: q.proxy, opts: q.opts, limiter: q.limiter, gate: q.gate, streamed: q.streamed, mint: mint, maxt: maxt}, nil
}

type querier struct {
	proxy      *store.Proxy
	opts       Options
	limiter    *store.Limiter
	gate       *selectGate
	streamed   bool
	mint, maxt int64

	mtx     sync.Mutex
	closers []func() // of each Select: end its store calls, stop reading ahead
}

// readAhead is how many series past the one PromQL reads have their samples
// read ahead, and by how many goroutines: as many as there are CPUs, up to
// four. With one CPU there is no core to read them on.
func readAhead() (ahead, readers int) {
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		return 0, 0
	}
	return 16, min(procs, 4)
}

// Select implements storage.Querier. The answer is always sorted.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	req, err := q.seriesRequest(hints, matchers)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return gated(ctx, q.gate, q.closing, func(closing func(func())) storage.SeriesSet {
		var (
			out  storage.SeriesSet
			stop func()
		)
		if q.twoPhase(req) {
			out, stop = q.selectTwoPhase(ctx, req, hints, closing)
		} else {
			set := q.proxy.Series(ctx, req, store.SeriesOptions{StoreMatchers: q.opts.StoreMatchers, Limiter: q.limiter})
			closing(set.Close)
			// Thanos's engine opens an iterator per series at once.
			out = &seriesSet{set: set, dedup: q.opts.Dedup, hints: hints, lean: q.streamed}
		}
		if ahead, readers := readAhead(); ahead > 0 && !q.streamed {
			ra := readahead.NewSeriesSet(out, req.MinTime, req.MaxTime, ahead, readers)
			closing(ra.Close)
			out = ra
		}
		if stop != nil {
			closing(stop) // closed first, last added
		}
		return out
	})
}

// closing adds f to what Close calls.
func (q *querier) closing(f func()) {
	q.mtx.Lock()
	q.closers = append(q.closers, f)
	q.mtx.Unlock()
}

func (q *querier) seriesRequest(hints *storage.SelectHints, matchers []*labels.Matcher) (*storepb.SeriesRequest, error) {
	pbms, err := storepb.PromMatchersToMatchers(matchers...)
	if err != nil {
		return nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.SeriesRequest{
		MinTime:                 q.mint,
		MaxTime:                 q.maxt,
		Matchers:                pbms,
		PartialResponseDisabled: !q.opts.PartialResponse,
		WithoutReplicaLabels:    q.opts.withoutReplicaLabels(),
	}
	if hints == nil {
		return req, nil
	}
	req.MinTime, req.MaxTime = hints.Start, hints.End
	req.SkipChunks = hints.Func == "series"
	req.Limit = int64(hints.Limit)
	req.Step, req.Range = hints.Step, hints.Range
	req.QueryHints = queryHints(hints)
	return req, nil
}

// queryHints passes on what the engine will do with the series, so stores
// that can (Thanos's) prepare for it.
func queryHints(h *storage.SelectHints) *storepb.QueryHints {
	qh := &storepb.QueryHints{StepMillis: h.Step}
	if h.Func != "" {
		qh.Func = &storepb.Func{Name: h.Func}
	}
	if h.Range != 0 {
		qh.Range = &storepb.Range{Millis: h.Range}
	}
	if h.By || len(h.Grouping) > 0 {
		// A copy: PromQL sorts its grouping labels in place later, while
		// the request may still be being sent.
		qh.Grouping = &storepb.Grouping{By: h.By, Labels: slices.Clone(h.Grouping)}
	}
	return qh
}

// LabelNames implements storage.LabelQuerier.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pbms, err := storepb.PromMatchersToMatchers(matchers...)
	if err != nil {
		return nil, nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.LabelNamesRequest{
		Start:                   q.mint,
		End:                     q.maxt,
		Matchers:                pbms,
		PartialResponseDisabled: !q.opts.PartialResponse,
		WithoutReplicaLabels:    q.opts.withoutReplicaLabels(),
		Limit:                   labelLimit(hints),
	}
	names, warnings, err := q.proxy.LabelNames(ctx, req, q.opts.StoreMatchers)
	if err != nil {
		return nil, nil, err
	}
	return truncate(names, hints), toAnnotations(warnings), nil
}

// LabelValues implements storage.LabelQuerier.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, matchers ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	pbms, err := storepb.PromMatchersToMatchers(matchers...)
	if err != nil {
		return nil, nil, fmt.Errorf("convert matchers: %w", err)
	}
	req := &storepb.LabelValuesRequest{
		Label:                   name,
		Start:                   q.mint,
		End:                     q.maxt,
		Matchers:                pbms,
		PartialResponseDisabled: !q.opts.PartialResponse,
		WithoutReplicaLabels:    q.opts.withoutReplicaLabels(),
		Limit:                   labelLimit(hints),
	}
	values, warnings, err := q.proxy.LabelValues(ctx, req, q.opts.StoreMatchers)
	if err != nil {
		return nil, nil, err
	}
	return truncate(values, hints), toAnnotations(warnings), nil
}

func labelLimit(hints *storage.LabelHints) int64 {
	if hints == nil {
		return 0
	}
	return int64(hints.Limit)
}

// truncate applies the limit again: each store honours it, their union need
// not.
func truncate(values []string, hints *storage.LabelHints) []string {
	if hints != nil && hints.Limit > 0 && len(values) > hints.Limit {
		return slices.Clip(values[:hints.Limit])
	}
	return values
}

// Close implements storage.Querier: it stops reading series ahead and ends
// the store calls of every Select, last added first, so nothing reads a
// series whose store call has ended.
func (q *querier) Close() error {
	q.mtx.Lock()
	defer q.mtx.Unlock()
	for _, f := range slices.Backward(q.closers) {
		f()
	}
	q.closers = nil
	return nil
}

func toAnnotations(errs []error) annotations.Annotations {
	if len(errs) == 0 {
		return nil
	}
	a := annotations.New()
	for _, err := range errs {
		a.Add(err)
	}
	return *a
}
