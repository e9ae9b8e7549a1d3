package discovery

import (
	"math"
	"slices"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// API is one of the APIs besides the Store API that an endpoint may
// announce in its Info reply.
type API uint8

// The APIs an endpoint announces by the fields of the same name in Info.
const (
	RulesAPI API = 1 << iota
	TargetsAPI
	MetricMetadataAPI
	ExemplarsAPI
	// TargetMetadataAPI is Tandem's own, announced in a header.
	TargetMetadataAPI
	// QueryAPI is thanos.Query, which distributed execution pushes down to.
	QueryAPI
)

func (a API) String() string {
	switch a {
	case RulesAPI:
		return "rules"
	case TargetsAPI:
		return "targets"
	case MetricMetadataAPI:
		return "metric metadata"
	case ExemplarsAPI:
		return "exemplars"
	case TargetMetadataAPI:
		return "target metadata"
	case QueryAPI:
		return "query"
	}
	return "unknown API"
}

// apiSet is a set of APIs.
type apiSet uint8

func (s apiSet) has(a API) bool { return s&apiSet(a) != 0 }

func announcedAPIs(resp *infopb.InfoResponse, header metadata.MD) apiSet {
	var s apiSet
	for _, a := range []struct {
		api       API
		announced bool
	}{
		{RulesAPI, resp.Rules != nil},
		{TargetsAPI, resp.Targets != nil},
		{MetricMetadataAPI, resp.MetricMetadata != nil},
		{ExemplarsAPI, resp.Exemplars != nil},
		{TargetMetadataAPI, slices.Contains(header.Get(targetmetapb.APIHeader), targetmetapb.APIHeaderValue)},
		{QueryAPI, resp.Query != nil},
	} {
		if a.announced {
			s |= apiSet(a.api)
		}
	}
	return s
}

// exemplarsTimeRange is the time range an endpoint announced for its
// exemplars. Thanos's components announce none (both times zero): their
// exemplars may be anywhere the Store API's data is, or anywhere at all.
func exemplarsTimeRange(resp *infopb.InfoResponse) (mint, maxt int64) {
	switch {
	case resp.Exemplars != nil && resp.Exemplars.MinTime < resp.Exemplars.MaxTime:
		return resp.Exemplars.MinTime, resp.Exemplars.MaxTime
	case resp.Store != nil:
		return resp.Store.MinTime, resp.Store.MaxTime
	}
	return math.MinInt64, math.MaxInt64
}

// ExemplarsTimeRange returns the oldest and newest timestamps, in
// milliseconds, of the exemplars the endpoint may hold.
func (e *Endpoint) ExemplarsTimeRange() (mint, maxt int64) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.metadata == nil {
		return math.MinInt64, math.MaxInt64
	}
	return e.metadata.exemplarsMinTime, e.metadata.exemplarsMaxTime
}

// Conn is the endpoint's gRPC connection, for the clients of its other
// APIs.
func (e *Endpoint) Conn() *grpc.ClientConn { return e.conn }
