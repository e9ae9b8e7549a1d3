package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// Client is a store the proxy can ask. The endpoints of pkg/discovery
// satisfy it structurally; tests build their own over loopback gRPC.
type Client interface {
	storepb.StoreClient
	// LabelSets returns the store's external label sets.
	LabelSets() []labels.Labels
	// TimeRange returns the oldest and newest timestamp (ms) the store holds.
	TimeRange() (mint, maxt int64)
	// SupportsWithoutReplicaLabels reports whether the store strips the
	// labels named in without_replica_labels itself.
	SupportsWithoutReplicaLabels() bool
	// String returns the store's address, used in warnings and storeMatch[].
	String() string
}

// ProxyOptions tune a Proxy.
type ProxyOptions struct {
	// ResponseTimeout bounds how long one store may stay silent during a
	// call; once exceeded the store is cancelled and treated as failed.
	// Zero means no bound beyond the request's own context.
	ResponseTimeout time.Duration
	// SeriesPrefetch is how many received frames of one store may wait in
	// memory for the merge to consume them. Zero means a small default.
	SeriesPrefetch int
}

// Proxy fans Store API calls out to the stores that may hold matching data
// and merges their sorted answers into one sorted answer.
type Proxy struct {
	clients func() []Client
	opts    ProxyOptions
}

// responseBatchSize is how many series a store is asked to pack per frame;
// the Thanos querier asks for the same number.
const responseBatchSize = 64

// NewProxy returns a Proxy over the stores that clients returns at the time
// of each call: the set changes as discovery finds and loses stores.
func NewProxy(clients func() []Client, opts ProxyOptions) *Proxy {
	if opts.SeriesPrefetch <= 0 {
		opts.SeriesPrefetch = 4
	}
	return &Proxy{clients: clients, opts: opts}
}

// SeriesOptions are what a caller adds to a Series request.
type SeriesOptions struct {
	// StoreMatchers, when not empty, restrict which stores are asked
	// (storeMatch[] of the HTTP API).
	StoreMatchers [][]*labels.Matcher
	// Limiter, if set, bounds the series and samples the stores send; it
	// may be shared by the Series calls of one query.
	Limiter *Limiter
}

// Series asks every matching store for the series of req and returns their
// merged stream.
//
// req.WithoutReplicaLabels names the replica labels to remove: the stores
// that support it strip them; for the others the proxy does it and re-sorts
// their answers. Each label set comes once, with the copies every store
// holds of it, so that a replica-aware merge can follow.
//
// With partial response enabled and a deadline on ctx, the stores must
// answer a little before it: a store that has not finished by then becomes
// a warning, and the answer of the others arrives in time.
//
// The caller must call Close on the returned set once done with it: that
// ends every store call still running.
func (p *Proxy) Series(ctx context.Context, req *storepb.SeriesRequest, opts SeriesOptions) *SeriesSet {
	parent := ctx
	partial := !req.PartialResponseDisabled
	ctx, cancel := CallContext(parent, partial)
	set := &SeriesSet{parent: parent, cancel: cancel, partial: partial}

	matchers, err := storepb.MatchersToPromMatchers(req.Matchers...)
	if err != nil {
		set.err = fmt.Errorf("convert matchers: %w", err)
		return set
	}
	stores := selectStores(p.clients(), req.MinTime, req.MaxTime, matchers, opts.StoreMatchers)

	set.streams = make([]*storeStream, 0, len(stores))
	for _, c := range stores {
		storeReq := *req
		storeReq.ResponseBatchSize = responseBatchSize
		stripInProxy := false
		if len(req.WithoutReplicaLabels) > 0 && !c.SupportsWithoutReplicaLabels() {
			storeReq.WithoutReplicaLabels = nil
			stripInProxy = true
		}
		s := &storeStream{
			client:          c,
			req:             &storeReq,
			stripLabels:     stripInProxy,
			replicaLabels:   req.WithoutReplicaLabels,
			responseTimeout: p.opts.ResponseTimeout,
			partial:         partial,
			limiter:         opts.Limiter,
			out:             make(chan []storeSeries, p.opts.SeriesPrefetch),
		}
		go s.run(ctx)
		set.streams = append(set.streams, s)
	}
	return set
}

// CallContext returns the context for the calls a request makes to the
// stores (or to other queries).
//
// Without partial response they carry no deadline of their own and end when
// the request does: a deadline sent along would let a store end its call a
// moment before the request's own timer fires, and the request's timeout
// would read as that store's failure. With partial response they must end
// earlier, by a tenth of the time left (at most partialMargin), so that
// PromQL still has time to answer from the stores that did.
func CallContext(parent context.Context, partial bool) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() { cancel(context.Cause(parent)) })
	if deadline, ok := parent.Deadline(); ok && partial {
		margin := min(time.Until(deadline)/10, partialMargin)
		timer := time.AfterFunc(time.Until(deadline)-margin, func() { cancel(errStoresTooLate) })
		stopStores := stop
		stop = func() bool { timer.Stop(); return stopStores() }
	}
	return ctx, func(err error) {
		stop()
		cancel(err)
	}
}

// partialMargin is the longest time left for PromQL between the end of the
// store calls of a request with partial response and its deadline.
const partialMargin = 5 * time.Second

// errStoresTooLate ends the store calls of a request with partial response
// that did not finish before its deadline.
var errStoresTooLate = errors.New("no complete answer before the request's deadline")

// selectStores returns the stores whose time range overlaps [mint, maxt],
// whose external labels can match matchers and that storeMatchers (if any)
// select.
func selectStores(all []Client, mint, maxt int64, matchers []*labels.Matcher, storeMatchers [][]*labels.Matcher) []Client {
	var stores []Client
	for _, c := range all {
		smin, smax := c.TimeRange()
		if mint > smax || maxt < smin {
			continue
		}
		if Selected(c.String(), c.LabelSets(), matchers, storeMatchers) {
			stores = append(stores, c)
		}
	}
	return stores
}

// labelSetsMatch reports whether the series of a store with the given
// external label sets can match matchers: a matcher on a label a set does
// not have can still match the series' own labels, so it cannot exclude the
// store. A store without label sets can hold anything.
func labelSetsMatch(matchers []*labels.Matcher, lsets []labels.Labels) bool {
	if len(lsets) == 0 {
		return true
	}
	for _, ls := range lsets {
		if labelSetMatches(matchers, ls) {
			return true
		}
	}
	return false
}

func labelSetMatches(matchers []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range matchers {
		if ls.Has(m.Name) && !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// addressLabel is the pseudo-label storeMatch[] selectors use for a store's
// address, as in Thanos.
const addressLabel = "__address__"

// storeSelected reports whether any of the storeMatch[] selectors selects
// the store. As in Thanos, a selector matches __address__ against the
// store's address; beyond Thanos, its other matchers are held against the
// store's external label sets with the same rule as request matchers.
func storeSelected(addr string, lsets []labels.Labels, selectors [][]*labels.Matcher) bool {
	for _, sel := range selectors {
		ok := true
		var rest []*labels.Matcher
		for _, m := range sel {
			if m.Name == addressLabel {
				ok = ok && m.Matches(addr)
				continue
			}
			rest = append(rest, m)
		}
		if ok && labelSetsMatch(rest, lsets) {
			return true
		}
	}
	return false
}
