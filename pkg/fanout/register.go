package fanout

import (
	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// Servers serve the Rules, Targets, Metadata, Exemplars and target
// metadata APIs: a Proxy does, over its endpoints, and so does a sidecar
// over its Prometheus.
type Servers interface {
	rulespb.RulesServer
	targetspb.TargetsServer
	metadatapb.MetadataServer
	exemplarspb.ExemplarsServer
	targetmetapb.Server
}

// Register adds the APIs of s to srv.
func Register(srv *grpc.Server, s Servers) {
	rulespb.RegisterRulesServer(srv, s)
	targetspb.RegisterTargetsServer(srv, s)
	metadatapb.RegisterMetadataServer(srv, s)
	exemplarspb.RegisterExemplarsServer(srv, s)
	targetmetapb.Register(srv, s)
}
