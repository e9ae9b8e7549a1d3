package discovery_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
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

// dnsZone is a test DNS server on a loopback UDP (and TCP) port whose
// records the test changes while it runs.
type dnsZone struct {
	t    *testing.T
	addr string

	mu          sync.Mutex
	records     map[string][]dns.RR // by lower-case FQDN
	servfail    bool
	truncateUDP bool
	// servfails counts the SERVFAIL answers given, so tests can wait for
	// the resolver to have seen a failure.
	servfails int
	queries   []string // "name TYPE net"
}

func startDNSZone(t *testing.T) *dnsZone {
	t.Helper()
	z := &dnsZone{t: t, records: map[string][]dns.RR{}}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", z.serve)

	// The TCP fallback needs TCP on the same port; retry if the UDP port is
	// taken for TCP by someone else.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 10 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: mux}, {Listener: ln, Handler: mux}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return z
}

func (z *dnsZone) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	q := req.Question[0]
	network := w.RemoteAddr().Network()

	z.mu.Lock()
	z.queries = append(z.queries, fmt.Sprintf("%s %s %s", q.Name, dns.TypeToString[q.Qtype], network))
	switch {
	case z.servfail:
		z.servfails++
		resp.Rcode = dns.RcodeServerFailure
	case z.truncateUDP && network == "udp":
		resp.Truncated = true
	default:
		rrs, ok := z.records[strings.ToLower(q.Name)]
		if !ok {
			resp.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				resp.Answer = append(resp.Answer, rr)
			}
		}
	}
	z.mu.Unlock()
	_ = w.WriteMsg(resp)
}

// set replaces the records of the zone with the given ones, in zone file
// syntax, e.g. "a.example. 5 IN A 127.0.0.1".
func (z *dnsZone) set(lines ...string) {
	z.t.Helper()
	records := map[string][]dns.RR{}
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil {
			z.t.Fatalf("bad test record %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		records[name] = append(records[name], rr)
	}
	z.mu.Lock()
	z.records = records
	z.mu.Unlock()
}

func (z *dnsZone) setServfail(on bool) {
	z.mu.Lock()
	z.servfail = on
	z.mu.Unlock()
}

func (z *dnsZone) servfailCount() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.servfails
}

func (z *dnsZone) setTruncateUDP(on bool) {
	z.mu.Lock()
	z.truncateUDP = on
	z.mu.Unlock()
}

func (z *dnsZone) queryLog() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.queries...)
}

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
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := *s.resp
	resp.ComponentType = component
	s.resp = &resp
}

func (s *infoServer) LabelNames(context.Context, *storepb.LabelNamesRequest) (*storepb.LabelNamesResponse, error) {
	return &storepb.LabelNamesResponse{Names: []string{s.name}}, nil
}
