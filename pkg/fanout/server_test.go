package fanout_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// peer is a server of the four APIs on a loopback port, answering what a
// test gives it, or misbehaving as the test asks.
type peer struct {
	groups    []*rulespb.RuleGroup
	targets   *targetspb.TargetDiscovery
	metadata  map[string][]metadatapb.Meta
	exemplars []*exemplarspb.ExemplarData
	entries   []targetmetapb.Entry
	// warning is sent in band after the data.
	warning string
	// fail, if set, is every call's error.
	fail error
	// endless sends the data over and over until the caller gives up.
	endless bool
	// silent answers nothing until the caller gives up.
	silent bool

	mu       sync.Mutex
	queries  []string // the exemplar queries received
	received int      // calls received
}

func (p *peer) start(ctx context.Context) error {
	p.mu.Lock()
	p.received++
	p.mu.Unlock()
	if p.silent {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.fail
}

// send sends frames once, or until the caller gives up if endless.
func (p *peer) send(ctx context.Context, frames func() error) error {
	for {
		if err := frames(); err != nil {
			return err
		}
		if !p.endless {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

func (p *peer) Rules(_ *rulespb.RulesRequest, srv rulespb.Rules_RulesServer) error {
	if err := p.start(srv.Context()); err != nil {
		return err
	}
	err := p.send(srv.Context(), func() error {
		for _, g := range p.groups {
			if err := srv.Send(rulespb.NewRuleGroupRulesResponse(g)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || p.warning == "" {
		return err
	}
	return srv.Send(&rulespb.RulesResponse{Result: &rulespb.RulesResponse_Warning{Warning: p.warning}})
}

func (p *peer) Targets(_ *targetspb.TargetsRequest, srv targetspb.Targets_TargetsServer) error {
	if err := p.start(srv.Context()); err != nil {
		return err
	}
	return p.send(srv.Context(), func() error {
		if p.targets == nil {
			return nil
		}
		return srv.Send(targetspb.NewTargetsResponse(p.targets))
	})
}

func (p *peer) MetricMetadata(_ *metadatapb.MetricMetadataRequest, srv metadatapb.Metadata_MetricMetadataServer) error {
	if err := p.start(srv.Context()); err != nil {
		return err
	}
	return p.send(srv.Context(), func() error {
		return srv.Send(metadatapb.NewMetricMetadataResponse(metadatapb.FromMetadataMap(p.metadata)))
	})
}

func (p *peer) Exemplars(req *exemplarspb.ExemplarsRequest, srv exemplarspb.Exemplars_ExemplarsServer) error {
	p.mu.Lock()
	p.queries = append(p.queries, req.Query)
	p.mu.Unlock()
	if err := p.start(srv.Context()); err != nil {
		return err
	}
	return p.send(srv.Context(), func() error {
		for _, d := range p.exemplars {
			if err := srv.Send(exemplarspb.NewExemplarsResponse(d)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (p *peer) TargetMetadata(req *targetmetapb.Request, srv targetmetapb.Stream) error {
	if err := p.start(srv.Context()); err != nil {
		return err
	}
	return p.send(srv.Context(), func() error {
		return srv.Send(&targetmetapb.Response{Entries: p.entries})
	})
}

func (p *peer) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.received
}

func (p *peer) exemplarQueries() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

// endpoint is a peer as the proxy sees it.
type endpoint struct {
	addr      string
	lsets     []labels.Labels
	component string
	conn      *grpc.ClientConn
	unhealthy bool
	// offers are the APIs it offers; nil: every one.
	offers []discovery.API
}

func (e *endpoint) String() string                     { return e.addr }
func (e *endpoint) LabelSets() []labels.Labels         { return e.lsets }
func (e *endpoint) ComponentType() string              { return e.component }
func (e *endpoint) ExemplarsTimeRange() (int64, int64) { return 0, 1 << 60 }
func (e *endpoint) Conn() *grpc.ClientConn             { return e.conn }
func (e *endpoint) Healthy() bool                      { return !e.unhealthy }

// serve starts p on a loopback port and returns it as an endpoint with the
// external labels ext (name, value pairs) of a sidecar.
func serve(t testing.TB, p *peer, ext ...string) *endpoint {
	t.Helper()
	return endpointOf(storetest.Serve(t, func(srv *grpc.Server) { fanout.Register(srv, p) }, grpc.MaxSendMsgSize(256<<20)), "sidecar", ext...)
}

func endpointOf(conn *grpc.ClientConn, component string, ext ...string) *endpoint {
	e := &endpoint{addr: conn.Target(), component: component, conn: conn}
	if len(ext) > 0 {
		e.lsets = []labels.Labels{labels.FromStrings(ext...)}
	}
	return e
}

// newProxy returns a proxy over eps.
func newProxy(opts fanout.Options, eps ...*endpoint) *fanout.Proxy {
	return fanout.New(func(api discovery.API) []fanout.Endpoint {
		var out []fanout.Endpoint
		for _, e := range eps {
			if e.offers == nil || slices.Contains(e.offers, api) {
				out = append(out, e)
			}
		}
		return out
	}, opts)
}

// serveProxy serves a proxy over gRPC, as a query does, and returns it as
// an endpoint of component type query.
func serveProxy(t *testing.T, p *fanout.Proxy, ext ...string) *endpoint {
	t.Helper()
	return endpointOf(storetest.Serve(t, func(srv *grpc.Server) { fanout.Register(srv, p) }), "query", ext...)
}

func zl(pairs ...string) labelpb.ZLabelSet {
	return labelpb.ZLabelSet{Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings(pairs...))}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var errDown = status.Error(codes.Unavailable, "Prometheus is down")

func matchers(t *testing.T, selectors ...string) [][]*labels.Matcher {
	t.Helper()
	var out [][]*labels.Matcher
	for _, s := range selectors {
		ms, err := parser.ParseMetricSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms)
	}
	return out
}
