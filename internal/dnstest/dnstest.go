// Package dnstest serves DNS records that tests change while they run, on
// a loopback port, with github.com/miekg/dns.
package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Zone is a DNS server on a loopback UDP (and TCP) port whose records the
// test changes while it runs.
type Zone struct {
	tb   testing.TB
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

// Start serves an empty zone until the test ends.
func Start(t testing.TB) *Zone {
	t.Helper()
	z := &Zone{tb: t, records: map[string][]dns.RR{}}
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

func (z *Zone) serve(w dns.ResponseWriter, req *dns.Msg) {
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

// Set replaces the records of the zone with the given ones, in zone file
// syntax, e.g. "a.example. 5 IN A 127.0.0.1".
func (z *Zone) Set(lines ...string) {
	z.tb.Helper()
	records := map[string][]dns.RR{}
	for _, line := range lines {
		rr, err := dns.NewRR(line)
		if err != nil {
			z.tb.Fatalf("bad test record %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		records[name] = append(records[name], rr)
	}
	z.mu.Lock()
	z.records = records
	z.mu.Unlock()
}

// SetServfail makes every answer a SERVFAIL, or not.
func (z *Zone) SetServfail(on bool) {
	z.mu.Lock()
	z.servfail = on
	z.mu.Unlock()
}

// ServfailCount is how many SERVFAIL answers the zone has given.
func (z *Zone) ServfailCount() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.servfails
}

// SetTruncateUDP truncates every answer over UDP, so clients retry over TCP.
func (z *Zone) SetTruncateUDP(on bool) {
	z.mu.Lock()
	z.truncateUDP = on
	z.mu.Unlock()
}

// Queries lists the questions asked so far, as "name TYPE network".
func (z *Zone) Queries() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.queries...)
}

// Addr is the zone's host:port, the same for UDP and TCP.
func (z *Zone) Addr() string { return z.addr }
