// Package remote gives Thanos's distributed PromQL engine its remote
// engines: the other queries it pushes parts of a query down to over their
// Query API (thanos.Query), and the stores that serve no Query API, which
// this query evaluates itself as one more engine.
package remote

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/thanos-io/promql-engine/api"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// Endpoint is another query's Query API, as discovery knows it.
type Endpoint interface {
	// String returns the endpoint's address, named in warnings and errors.
	String() string
	QueryClient() querypb.QueryClient
	// TSDBInfos are the TSDBs behind the endpoint: their external labels
	// and time ranges.
	TSDBInfos() []infopb.TSDBInfo
}

// Local are the stores that serve no Query API, evaluated here as one more
// engine, so that in a mix of queries and sidecars every store counts once.
type Local struct {
	Engine    promql.QueryEngine
	Queryable storage.Queryable
	TSDBInfos []infopb.TSDBInfo
}

// Options are one request's choices, which its remote queries carry.
type Options struct {
	// ReplicaLabels and Dedup are passed on: each engine below merges its
	// replicas, and the replica labels do not partition the engines.
	ReplicaLabels []string
	Dedup         bool
	// PartialResponse turns the failure of an engine into a warning.
	PartialResponse bool
	// PartitionLabels, if set, are the external labels that tell the
	// engines apart (--query.partition-label); others are ignored when
	// deciding how to distribute.
	PartitionLabels []string
	// StoreMatchers (storeMatch[]) select the endpoints by address and
	// external labels, as they select stores.
	StoreMatchers [][]*labels.Matcher
	// MaxSamples bounds the samples one remote answer may carry; zero
	// means no bound.
	MaxSamples int
}

// Endpoints are the remote engines of one request; they implement
// api.RemoteEndpoints of Thanos's promql-engine.
type Endpoints struct {
	targets []target
	infos   [][]infopb.TSDBInfo
	opts    Options
}

// target is where one engine's queries run.
type target interface {
	newQuery(ctx context.Context, opts promql.QueryOpts, plan api.RemoteQuery, start, end time.Time, step time.Duration) (promql.Query, error)
}

// NewEndpoints returns the engines of the endpoints that storeMatch[]
// selects, and of local if it is not nil.
func NewEndpoints(endpoints []Endpoint, local *Local, opts Options) *Endpoints {
	e := &Endpoints{opts: opts}
	for _, ep := range endpoints {
		infos := ep.TSDBInfos()
		if len(opts.StoreMatchers) > 0 && !store.Selected(ep.String(), infoLabels(infos), nil, opts.StoreMatchers) {
			continue
		}
		e.targets = append(e.targets, &grpcTarget{endpoint: ep, opts: opts})
		e.infos = append(e.infos, infos)
	}
	if local != nil && len(local.TSDBInfos) > 0 {
		e.targets = append(e.targets, localTarget{local})
		e.infos = append(e.infos, local.TSDBInfos)
	}
	return e
}

// Len is the number of engines.
func (e *Endpoints) Len() int { return len(e.targets) }

// Engines implements api.RemoteEndpoints.
//
// An engine's time range is that of its TSDBs, the oldest time being the
// latest oldest time of the replicas of each partition (one replica may
// have deleted a block that the other still has). The engine uses the
// oldest times to split a query in time between engines that hold the same
// partition at different ages; an engine whose partitions no other engine
// holds has nothing to split with, so it is given the oldest time of all:
// it is then asked for the whole range, as a flat query would read it,
// rather than from its oldest time plus the query's look-back.
func (e *Endpoints) Engines() []api.RemoteEngine {
	engines := make([]*engine, 0, len(e.targets))
	for i, t := range e.targets {
		if en := newEngine(t, e.infos[i], e.opts); en != nil {
			engines = append(engines, en)
		}
	}
	oldest := int64(math.MaxInt64)
	for _, en := range engines {
		oldest = min(oldest, en.mint)
	}
	out := make([]api.RemoteEngine, len(engines))
	for i, en := range engines {
		if !sharesPartition(en, engines) {
			en.mint = oldest
		}
		out[i] = en
	}
	return out
}

func sharesPartition(en *engine, all []*engine) bool {
	for _, other := range all {
		if other == en {
			continue
		}
		for _, p := range en.partitions {
			if slices.ContainsFunc(other.partitions, func(o labels.Labels) bool { return labels.Equal(o, p) }) {
				return true
			}
		}
	}
	return false
}

// engine is one remote engine: implements api.RemoteEngine.
type engine struct {
	target     target
	mint, maxt int64
	labelSets  []labels.Labels
	partitions []labels.Labels
}

// newEngine describes the engine of target from its TSDBs; nil if it has
// none, as it holds no data.
func newEngine(t target, infos []infopb.TSDBInfo, opts Options) *engine {
	if len(infos) == 0 {
		return nil
	}
	en := &engine{target: t, maxt: math.MinInt64}
	latestOldest := map[string]int64{}
	for _, info := range infos {
		b := labels.NewBuilder(info.Labels.PromLabels())
		if opts.Dedup {
			b.Del(opts.ReplicaLabels...)
		}
		lset := b.Labels()
		partition := lset
		if len(opts.PartitionLabels) > 0 {
			partition = b.Keep(opts.PartitionLabels...).Labels()
		}
		en.labelSets = appendUnique(en.labelSets, lset)
		en.partitions = appendUnique(en.partitions, partition)
		key := partition.String()
		if m, ok := latestOldest[key]; !ok || info.MinTime > m {
			latestOldest[key] = info.MinTime
		}
		en.maxt = max(en.maxt, info.MaxTime)
	}
	en.mint = math.MaxInt64
	for _, m := range latestOldest {
		en.mint = min(en.mint, m)
	}
	return en
}

func appendUnique(sets []labels.Labels, ls labels.Labels) []labels.Labels {
	if slices.ContainsFunc(sets, func(o labels.Labels) bool { return labels.Equal(o, ls) }) {
		return sets
	}
	return append(sets, ls)
}

func infoLabels(infos []infopb.TSDBInfo) []labels.Labels {
	out := make([]labels.Labels, 0, len(infos))
	for _, info := range infos {
		out = append(out, info.Labels.PromLabels())
	}
	return out
}

func (e *engine) MinT() int64                         { return e.mint }
func (e *engine) MaxT() int64                         { return e.maxt }
func (e *engine) LabelSets() []labels.Labels          { return e.labelSets }
func (e *engine) PartitionLabelSets() []labels.Labels { return e.partitions }

// NewRangeQuery implements api.RemoteEngine; an instant query comes as a
// range with start equal to end.
func (e *engine) NewRangeQuery(ctx context.Context, opts promql.QueryOpts, plan api.RemoteQuery, start, end time.Time, step time.Duration) (promql.Query, error) {
	return e.target.newQuery(ctx, opts, plan, start, end, step)
}

// localTarget evaluates the stores without a Query API here.
type localTarget struct{ *Local }

func (l localTarget) newQuery(ctx context.Context, opts promql.QueryOpts, plan api.RemoteQuery, start, end time.Time, step time.Duration) (promql.Query, error) {
	if start.Equal(end) {
		return l.Engine.NewInstantQuery(ctx, l.Queryable, opts, plan.String(), start)
	}
	return l.Engine.NewRangeQuery(ctx, l.Queryable, opts, plan.String(), start, end, step)
}
