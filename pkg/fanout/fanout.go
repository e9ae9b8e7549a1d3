// Package fanout serves Thanos's Rules, Targets, Metadata and Exemplars
// APIs, and Tandem's target metadata API, over every endpoint that offers
// them: it asks each at once, with the partial-response rules and store
// selection of Series, and joins their answers. Served over gRPC it passes every endpoint's answer on, as
// a Thanos querier does, so that a querier above sees every replica; for
// the HTTP API it also filters as Prometheus does and, deduplicating,
// keeps one copy of what the replicas of an HA pair share.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// Endpoint is a server of some of the APIs. The endpoints of pkg/discovery
// satisfy it.
type Endpoint interface {
	// String returns the endpoint's address, used in warnings and
	// storeMatch[].
	String() string
	// LabelSets returns the endpoint's external label sets.
	LabelSets() []labels.Labels
	// ComponentType is what the endpoint said it is, e.g. "sidecar".
	ComponentType() string
	// ExemplarsTimeRange returns the oldest and newest timestamps (ms) of
	// the exemplars the endpoint may hold.
	ExemplarsTimeRange() (mint, maxt int64)
	// Conn is the endpoint's gRPC connection.
	Conn() *grpc.ClientConn
	// Healthy reports whether the endpoint answered its last Info call.
	Healthy() bool
}

// Options tune a Proxy.
type Options struct {
	// ResponseTimeout bounds how long an endpoint may stay silent during a
	// call; zero means no bound beyond the request's own.
	ResponseTimeout time.Duration
	// MaxBytes bounds what one endpoint may send for one call; zero means
	// DefaultMaxBytes.
	MaxBytes int
}

// DefaultMaxBytes bounds one endpoint's answer: more than the rules,
// targets or metadata of any Prometheus a querier can present.
const DefaultMaxBytes = 64 << 20

// Proxy fans the APIs out to the endpoints that offer them.
type Proxy struct {
	endpoints func(discovery.API) []Endpoint
	opts      Options
}

// New returns a Proxy over the endpoints that endpoints returns, at the
// time of each call, as offering an API; it asks the healthy ones.
func New(endpoints func(discovery.API) []Endpoint, opts Options) *Proxy {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	return &Proxy{endpoints: endpoints, opts: opts}
}

// Request is what a request of the HTTP API adds to a call.
type Request struct {
	// PartialResponse answers with the endpoints that work and a warning
	// for each that failed; without it any failure is the answer.
	PartialResponse bool
	// Dedup keeps one copy of what differs only by ReplicaLabels.
	Dedup         bool
	ReplicaLabels []string
	// StoreMatchers, if any, restrict which endpoints are asked
	// (storeMatch[] of the HTTP API).
	StoreMatchers [][]*labels.Matcher
}

// replicaLabels are the labels to remove from every entry: none without
// dedup.
func (r Request) replicaLabels() []string {
	if !r.Dedup {
		return nil
	}
	return r.ReplicaLabels
}

func (r Request) strategy() storepb.PartialResponseStrategy {
	if r.PartialResponse {
		return storepb.PartialResponseStrategy_WARN
	}
	return storepb.PartialResponseStrategy_ABORT
}

// selected returns the healthy endpoints that offer api, can hold data
// matching matchers and that storeMatchers (if any) pick. When there are
// none, the warning says so and names those that would be asked if they
// were healthy.
func (p *Proxy) selected(api discovery.API, matchers []*labels.Matcher, storeMatchers [][]*labels.Matcher) ([]Endpoint, []error) {
	var (
		out       []Endpoint
		unhealthy []string
	)
	for _, e := range p.endpoints(api) {
		if !store.Selected(e.String(), e.LabelSets(), matchers, storeMatchers) {
			continue
		}
		if !e.Healthy() {
			unhealthy = append(unhealthy, e.String())
			continue
		}
		out = append(out, e)
	}
	if len(out) > 0 {
		return out, nil
	}
	msg := fmt.Sprintf("no store offers the %s API", api)
	if len(storeMatchers) > 0 {
		msg = fmt.Sprintf("no store that storeMatch[] selects offers the %s API", api)
	}
	if len(unhealthy) > 0 {
		msg += "; unhealthy: " + strings.Join(unhealthy, ", ")
	}
	return nil, []error{errors.New(msg)}
}

// call is how one API is read from one endpoint: open the stream, tell a
// frame that carries a warning from one that carries data, and check what
// a frame holds (nil: anything goes).
type call[F store.Frame] struct {
	open    func(ctx context.Context, e Endpoint) (store.FrameStream[F], error)
	warning func(F) string
	check   func(F) error
}

// gather asks every endpoint at once and returns the data frames of each
// that answered, with the warnings.
func gather[F store.Frame](ctx context.Context, p *Proxy, eps []Endpoint, partial bool, c call[F]) ([][]F, []error, error) {
	limits := store.StreamLimits{MaxBytes: p.opts.MaxBytes}
	return store.Gather(ctx, eps, store.GatherOptions{PartialResponse: partial},
		func(ctx context.Context, e Endpoint) ([]F, []string, error) {
			frames, warnings, err := store.ReadStream(ctx, p.opts.ResponseTimeout, limits,
				func(ctx context.Context) (store.FrameStream[F], error) { return c.open(ctx, e) }, c.warning)
			if err != nil || c.check == nil {
				return frames, warnings, err
			}
			for _, f := range frames {
				if err := c.check(f); err != nil {
					return nil, nil, err
				}
			}
			return frames, warnings, nil
		})
}

// partial reports whether a gRPC request asks for a partial response.
func partial(s storepb.PartialResponseStrategy) bool {
	return s == storepb.PartialResponseStrategy_WARN
}

// serverError is the status a gRPC server answers a failed fan-out with.
func serverError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Aborted, err.Error())
}

// finite fails for the first of the named numbers that is not finite:
// JSON cannot carry it.
func finite(what string, nums ...float64) error {
	for _, f := range nums {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %v is not a number the API can answer with", what, f)
		}
	}
	return nil
}

// perFrame is how many targets, metrics or entries the servers send in one
// frame: however many endpoints the answer joins, each message stays far
// below gRPC's size limit.
const perFrame = 1000

// answer sends the frames of an answer, then a frame for each warning:
// how every server here answers.
func answer[F any](send func(F) error, frames []F, warnings []error, warning func(error) F) error {
	for _, f := range frames {
		if err := send(f); err != nil {
			return err
		}
	}
	for _, w := range warnings {
		if err := send(warning(w)); err != nil {
			return err
		}
	}
	return nil
}

// batched makes frames of items, perFrame at a time.
func batched[T, F any](items []T, frame func([]T) F) []F {
	var out []F
	for len(items) > 0 {
		n := min(len(items), perFrame)
		out = append(out, frame(items[:n:n]))
		items = items[n:]
	}
	return out
}

// each makes a frame of each item.
func each[T, F any](items []T, frame func(T) F) []F {
	out := make([]F, len(items))
	for i, item := range items {
		out[i] = frame(item)
	}
	return out
}

// withoutLabels returns ls without the named labels.
func withoutLabels(ls labels.Labels, names []string) labels.Labels {
	if len(names) == 0 {
		return ls
	}
	b := labels.NewBuilder(ls)
	b.Del(names...)
	return b.Labels()
}
