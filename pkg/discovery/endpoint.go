package discovery

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// componentUnknown is what Thanos calls an endpoint whose Info never
// answered; componentQuery is a querier's own component type.
const (
	componentUnknown = "unknown-store-api"
	componentQuery   = "query"
)

// Endpoint is one Store API server at one address: its gRPC connection and
// what its last successful Info call said about it.
//
// The embedded StoreClient makes an *Endpoint usable wherever a
// storepb.StoreClient is.
type Endpoint struct {
	storepb.StoreClient

	addr    string
	conn    *grpc.ClientConn
	info    infopb.InfoClient
	created time.Time

	mu          sync.RWMutex
	lastCheck   time.Time
	lastErr     error
	lastHealthy time.Time
	// metadata is nil until an Info call succeeds, then kept through
	// failures so that /api/v1/stores still shows what the endpoint was.
	metadata *endpointMetadata
}

// endpointMetadata is the part of an Info reply that the querier uses. Its
// strings are copies: gogo decodes them pointing into the receive buffer.
type endpointMetadata struct {
	componentType                string
	labelSets                    []labels.Labels
	storeAPI                     bool
	minTime, maxTime             int64
	supportsWithoutReplicaLabels bool
	// apis are the APIs besides Store that the endpoint announced, and
	// exemplarsMinTime, exemplarsMaxTime the time range of its exemplars.
	apis                               apiSet
	exemplarsMinTime, exemplarsMaxTime int64
	// tsdbInfos are the TSDBs it announced behind its Store API.
	tsdbInfos []infopb.TSDBInfo
}

func newEndpoint(addr string, now time.Time, opts ...grpc.DialOption) (*Endpoint, error) {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("create gRPC client for %s: %w", addr, err)
	}
	return &Endpoint{
		StoreClient: storepb.NewStoreClient(conn),
		addr:        addr,
		conn:        conn,
		info:        infopb.NewInfoClient(conn),
		created:     now,
	}, nil
}

// String returns the endpoint's address, host:port.
func (e *Endpoint) String() string { return e.addr }

// LabelSets returns the external label sets the endpoint announced. The
// caller must not modify them.
func (e *Endpoint) LabelSets() []labels.Labels {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.metadata == nil {
		return nil
	}
	return e.metadata.labelSets
}

// TimeRange returns the oldest and newest timestamps, in milliseconds, that
// the endpoint may hold data for. An endpoint that never answered Info may
// hold anything.
func (e *Endpoint) TimeRange() (mint, maxt int64) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.metadata == nil || !e.metadata.storeAPI {
		return math.MinInt64, math.MaxInt64
	}
	return e.metadata.minTime, e.metadata.maxTime
}

// SupportsWithoutReplicaLabels reports whether the endpoint strips replica
// labels itself when a Series request names them (and then keeps series
// sorted without them).
func (e *Endpoint) SupportsWithoutReplicaLabels() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.metadata != nil && e.metadata.supportsWithoutReplicaLabels
}

// QueryClient is the endpoint's Query API (thanos.Query), for the
// endpoints whose Info announces it (ServesQueryAPI).
func (e *Endpoint) QueryClient() querypb.QueryClient { return querypb.NewQueryClient(e.conn) }

// ServesQueryAPI reports whether the endpoint is healthy and announced the
// Query API.
func (e *Endpoint) ServesQueryAPI() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.healthy() && e.metadata.apis.has(QueryAPI)
}

// TSDBInfos returns the TSDBs behind the endpoint's Store API: those it
// announced, or, when it announced none (as older stores do), one per
// external label set over its time range. The caller must not modify them.
func (e *Endpoint) TSDBInfos() []infopb.TSDBInfo {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.metadata == nil || !e.metadata.storeAPI {
		return nil
	}
	return e.metadata.tsdbInfos
}

// ComponentType returns the component the endpoint said it is, e.g.
// "sidecar", or "unknown-store-api" before its first successful Info.
func (e *Endpoint) ComponentType() string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.componentType()
}

func (e *Endpoint) componentType() string {
	if e.metadata == nil || e.metadata.componentType == "" {
		return componentUnknown
	}
	return e.metadata.componentType
}

// Healthy reports whether the last Info call succeeded.
func (e *Endpoint) Healthy() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.healthy()
}

func (e *Endpoint) healthy() bool { return e.lastErr == nil && e.metadata != nil }

func (e *Endpoint) servesStoreAPI() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.healthy() && e.metadata.storeAPI
}

func (e *Endpoint) offers(api API) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.metadata != nil && e.metadata.apis.has(api)
}

// unhealthyFor returns how long the endpoint has been without a successful
// Info call, counting from its creation if it never had one.
func (e *Endpoint) unhealthyFor(now time.Time) time.Duration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.healthy() {
		return 0
	}
	since := e.lastHealthy
	if since.IsZero() {
		since = e.created
	}
	return now.Sub(since)
}

// checkInfo calls Info and records the outcome.
func (e *Endpoint) checkInfo(ctx context.Context, timeout time.Duration, observe func(time.Duration)) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var header metadata.MD
	resp, err := e.info.Info(ctx, &infopb.InfoRequest{}, grpc.Header(&header))
	now := time.Now()
	observe(now.Sub(start))

	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastCheck = now
	if err != nil {
		e.lastErr = fmt.Errorf("info: %w", err)
		return
	}
	e.lastErr = nil
	e.lastHealthy = now
	e.metadata = metadataFromInfo(resp, header)
}

// CopiesHeader is the Info response header by which a querier says that,
// asked to strip replica labels, it sends each replica's copy of a series
// as a series of its own; CopiesSeparate is its value.
const (
	CopiesHeader   = "tandem-replica-copies"
	CopiesSeparate = "separate"
)

func metadataFromInfo(resp *infopb.InfoResponse, header metadata.MD) *endpointMetadata {
	m := &endpointMetadata{
		componentType: strings.Clone(resp.ComponentType),
		labelSets:     make([]labels.Labels, 0, len(resp.LabelSets)),
		minTime:       math.MinInt64,
		maxTime:       math.MaxInt64,
	}
	for _, set := range resp.LabelSets {
		b := labels.NewScratchBuilder(len(set.Labels))
		for _, l := range set.Labels {
			b.Add(strings.Clone(l.Name), strings.Clone(l.Value))
		}
		b.Sort()
		m.labelSets = append(m.labelSets, b.Labels())
	}
	m.apis = announcedAPIs(resp, header)
	m.exemplarsMinTime, m.exemplarsMaxTime = exemplarsTimeRange(resp)
	if resp.Store != nil {
		m.storeAPI = true
		m.minTime, m.maxTime = resp.Store.MinTime, resp.Store.MaxTime
		m.tsdbInfos = tsdbInfosFromInfo(resp.Store.TsdbInfos, m.labelSets, m.minTime, m.maxTime)
		// A querier that strips replica labels and joins the replicas'
		// chunks into one series (Thanos's does) loses which chunk came
		// from which replica, and the merge here could no longer fill one
		// replica's gaps from another as it does over the sidecars: such a
		// querier is asked for the labels as they are, and the proxy
		// strips them.
		m.supportsWithoutReplicaLabels = resp.Store.SupportsWithoutReplicaLabels &&
			(resp.ComponentType != componentQuery || slices.Contains(header.Get(CopiesHeader), CopiesSeparate))
	}
	return m
}

// tsdbInfosFromInfo copies the announced TSDBs out of the receive buffer,
// or derives them when none were announced.
func tsdbInfosFromInfo(announced []infopb.TSDBInfo, lsets []labels.Labels, mint, maxt int64) []infopb.TSDBInfo {
	if len(announced) == 0 {
		return TSDBInfosOf(lsets, mint, maxt)
	}
	out := make([]infopb.TSDBInfo, 0, len(announced))
	for _, ti := range announced {
		b := labels.NewScratchBuilder(len(ti.Labels.Labels))
		for _, l := range ti.Labels.Labels {
			b.Add(strings.Clone(l.Name), strings.Clone(l.Value))
		}
		b.Sort()
		out = append(out, infopb.TSDBInfo{Labels: labelpb.ZLabelSet{Labels: labelpb.ZLabelsFromPromLabels(b.Labels())}, MinTime: ti.MinTime, MaxTime: ti.MaxTime})
	}
	return out
}

// TSDBInfosOf describes a store that announced no TSDBs (as older stores
// do): one TSDB per external label set, over the store's time range.
func TSDBInfosOf(lsets []labels.Labels, mint, maxt int64) []infopb.TSDBInfo {
	out := make([]infopb.TSDBInfo, 0, len(lsets))
	for _, ls := range lsets {
		out = append(out, infopb.TSDBInfo{Labels: labelpb.ZLabelSet{Labels: labelpb.ZLabelsFromPromLabels(ls)}, MinTime: mint, MaxTime: maxt})
	}
	return out
}

// EndpointStatus is what /api/v1/stores shows about one endpoint.
type EndpointStatus struct {
	Name          string
	ComponentType string
	Healthy       bool
	// LastCheck is the time of the last Info call, successful or not; zero
	// before the first.
	LastCheck time.Time
	LastError error
	LabelSets []labels.Labels
	MinTime   int64
	MaxTime   int64
}

func (e *Endpoint) status() EndpointStatus {
	e.mu.RLock()
	defer e.mu.RUnlock()
	st := EndpointStatus{
		Name:          e.addr,
		ComponentType: e.componentType(),
		Healthy:       e.healthy(),
		LastCheck:     e.lastCheck,
		LastError:     e.lastErr,
		LabelSets:     []labels.Labels{},
		MinTime:       math.MinInt64,
		MaxTime:       math.MaxInt64,
	}
	if m := e.metadata; m != nil {
		st.LabelSets = m.labelSets
		if m.storeAPI {
			st.MinTime, st.MaxTime = m.minTime, m.maxTime
		}
	}
	return st
}
