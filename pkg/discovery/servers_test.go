package discovery_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/discovery"
	// Also registers the gRPC codec that keeps gogo-decoded strings valid.
	"github.com/tandem-metrics/tandem/pkg/store"
)

// The proxy takes the endpoints as they are.
var _ store.Client = (*discovery.Endpoint)(nil)

// infoServer is a Store API server on a loopback port that answers Info
// with fixed external labels and LabelNames with its own name, so a test
// can tell which server a client reached.
type infoServer struct {
	infopb.UnimplementedInfoServer
	storepb.UnimplementedStoreServer

	t       *testing.T
	name    string
	addr    string
	resp    *infopb.InfoResponse
	mu      sync.Mutex
	grpcSrv *grpc.Server
}

func startInfoServer(t *testing.T, name string, extLabels ...string) *infoServer {
	t.Helper()
	var zls []labelpb.ZLabel
	for i := 0; i+1 < len(extLabels); i += 2 {
		zls = append(zls, labelpb.ZLabel{Name: extLabels[i], Value: extLabels[i+1]})
	}
	s := &infoServer{
		t:    t,
		name: name,
		resp: &infopb.InfoResponse{
			ComponentType: "sidecar",
			LabelSets:     []labelpb.ZLabelSet{{Labels: zls}},
			Store: &infopb.StoreInfo{
				MinTime:                      1000,
				MaxTime:                      2000,
				SupportsWithoutReplicaLabels: true,
			},
		},
	}
	s.start("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

func (s *infoServer) start(addr string) {
	s.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	// Re-listening on a port just closed can briefly fail.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	srv := grpc.NewServer()
	infopb.RegisterInfoServer(srv, s)
	storepb.RegisterStoreServer(srv, s)
	go func() { _ = srv.Serve(ln) }()
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.grpcSrv = srv
	s.mu.Unlock()
}

// restart serves again on the same address after stop.
func (s *infoServer) restart() { s.start(s.addr) }

func (s *infoServer) stop() {
	s.mu.Lock()
	srv := s.grpcSrv
	s.grpcSrv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (s *infoServer) port() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return port
}

func (s *infoServer) Info(context.Context, *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resp, nil
}

// setComponent changes the component type that Info reports.
func (s *infoServer) setComponent(component string) {
	s.update(func(resp *infopb.InfoResponse) { resp.ComponentType = component })
}

func (s *infoServer) LabelNames(context.Context, *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	return &storepb.LabelNamesResponse{Names: []string{s.name}}, nil
}

// update changes what Info reports.
func (s *infoServer) update(change func(resp *infopb.InfoResponse)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := *s.resp
	change(&resp)
	s.resp = &resp
}
