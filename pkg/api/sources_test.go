package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/api"
	"github.com/tandem-metrics/tandem/pkg/discovery"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// warningPeer serves the Rules and Targets APIs, answering each call with
// a warning.
type warningPeer struct {
	rulespb.UnimplementedRulesServer
	targetspb.UnimplementedTargetsServer
}

const peerWarning = "evaluation is slow"

func (warningPeer) Rules(_ *rulespb.RulesRequest, srv rulespb.Rules_RulesServer) error {
	return srv.Send(&rulespb.RulesResponse{Result: &rulespb.RulesResponse_Warning{Warning: peerWarning}})
}

func (warningPeer) Targets(_ *targetspb.TargetsRequest, srv targetspb.Targets_TargetsServer) error {
	return srv.Send(&targetspb.TargetsResponse{Result: &targetspb.TargetsResponse_Warning{Warning: peerWarning}})
}

// peerEndpoint is a sidecar at addr as the fan-out sees it.
type peerEndpoint struct {
	addr string
	conn *grpc.ClientConn
}

func (e peerEndpoint) String() string { return e.addr }
func (e peerEndpoint) LabelSets() []labels.Labels {
	return []labels.Labels{labels.FromStrings("replica", "a")}
}
func (e peerEndpoint) ComponentType() string              { return "sidecar" }
func (e peerEndpoint) ExemplarsTimeRange() (int64, int64) { return 0, 0 }
func (e peerEndpoint) Conn() *grpc.ClientConn             { return e.conn }
func (e peerEndpoint) Healthy() bool                      { return true }

// TestSourcesPartialResponse: each endpoint has its own default of
// partial_response (Thanos's --rule.partial-response, ...), and a request's
// partial_response overrides it. Without partial response a store's
// warning fails the request.
func TestSourcesPartialResponse(t *testing.T) {
	conn := storetest.Serve(t, func(srv *grpc.Server) {
		rulespb.RegisterRulesServer(srv, warningPeer{})
		targetspb.RegisterTargetsServer(srv, warningPeer{})
	})
	peer := peerEndpoint{addr: conn.Target(), conn: conn}
	sources := fanout.New(func(discovery.API) []fanout.Endpoint { return []fanout.Endpoint{peer} }, fanout.Options{})
	s := startStack(t, stackOptions{sources: sources, sourcesPartial: api.SourcesPartialResponse{Targets: true}})

	for _, tc := range []struct {
		path    string
		params  url.Values
		partial bool
	}{
		{"/api/v1/rules", nil, false},
		{"/api/v1/alerts", nil, false},
		{"/api/v1/rules", url.Values{"partial_response": {"true"}}, true},
		{"/api/v1/targets", nil, true},
		{"/api/v1/targets", url.Values{"partial_response": {"false"}}, false},
	} {
		a := s.get(t, tc.path, tc.params)
		want := "store " + peer.addr + ": "
		if tc.partial {
			if a.code != http.StatusOK || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], want+peerWarning) {
				t.Errorf("%s?%s: %d %q, warnings %q; want a success warning %q", tc.path, tc.params.Encode(), a.code, a.Error, a.Warnings, want+peerWarning)
			}
			continue
		}
		if a.code != http.StatusUnprocessableEntity || !strings.Contains(a.Error, want+"warning with partial response disabled: "+peerWarning) {
			t.Errorf("%s?%s: %d %q; want 422 naming the store and its warning", tc.path, tc.params.Encode(), a.code, a.Error)
		}
	}
}
