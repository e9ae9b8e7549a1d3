package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSConfig is what the miekgdns resolver takes from resolv.conf(5).
type DNSConfig struct {
	// Servers are asked in order, as host:port.
	Servers []string
	// Search lists the domains appended to names with fewer than Ndots dots.
	Search []string
	Ndots  int
	// Timeout bounds each query to one server.
	Timeout time.Duration
}

// ReadResolvConf reads a resolv.conf(5) file. Beyond resolv.conf(5), a
// nameserver may be given as host:port, so that tests can point the
// resolver at a DNS server on an unprivileged port.
func ReadResolvConf(path string) (DNSConfig, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return DNSConfig{}, fmt.Errorf("read resolver config: %w", err)
	}
	cfg := DNSConfig{
		Search:  cc.Search,
		Ndots:   cc.Ndots,
		Timeout: time.Duration(cc.Timeout) * time.Second,
	}
	for _, s := range cc.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, cc.Port)
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	if len(cfg.Servers) == 0 {
		return DNSConfig{}, fmt.Errorf("read resolver config %s: no nameserver", path)
	}
	return cfg, nil
}

// Limits that stop a misconfigured zone from looping forever.
const (
	maxCNAMEHops = 8
	// ednsBufferSize is the DNS flag day 2020 size: large enough for the SRV
	// answers of big Services, small enough not to fragment.
	ednsBufferSize = 1232
)

// MiekgResolver is a Resolver on github.com/miekg/dns. Unlike the Go
// resolver, it needs no cgo or nsswitch and reports SERVFAIL as an error
// rather than as a missing name.
type MiekgResolver struct {
	path string

	mu     sync.Mutex
	config *DNSConfig
}

// NewMiekgResolver returns a resolver that uses cfg.
func NewMiekgResolver(cfg DNSConfig) *MiekgResolver {
	return &MiekgResolver{config: &cfg}
}

// NewMiekgResolverFromFile returns a resolver that reads its configuration
// from a resolv.conf(5) file on first use, so a querier with only static
// endpoints runs even where the file is missing.
func NewMiekgResolverFromFile(path string) *MiekgResolver {
	return &MiekgResolver{path: path}
}

func (r *MiekgResolver) loadConfig() (*DNSConfig, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.config != nil {
		return r.config, nil
	}
	cfg, err := ReadResolvConf(r.path)
	if err != nil {
		return nil, err
	}
	r.config = &cfg
	return r.config, nil
}

// LookupIP implements Resolver.
func (r *MiekgResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	qtype := dns.TypeA
	if network == "ip6" {
		qtype = dns.TypeAAAA
	}
	rrs, err := r.lookup(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	ips := make([]net.IP, 0, len(rrs))
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			ips = append(ips, rr.A)
		case *dns.AAAA:
			ips = append(ips, rr.AAAA)
		}
	}
	return ips, nil
}

// LookupSRV implements Resolver.
func (r *MiekgResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeSRV)
	if err != nil {
		return nil, err
	}
	srvs := make([]*net.SRV, 0, len(rrs))
	for _, rr := range rrs {
		if rr, ok := rr.(*dns.SRV); ok {
			srvs = append(srvs, &net.SRV{Target: rr.Target, Port: rr.Port, Priority: rr.Priority, Weight: rr.Weight})
		}
	}
	return srvs, nil
}

// lookup tries name with each search domain in resolv.conf's order and
// returns the records of the first candidate that has any.
func (r *MiekgResolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	cfg, err := r.loadConfig()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, candidate := range searchCandidates(name, cfg.Search, cfg.Ndots) {
		rrs, err := r.lookupName(ctx, cfg, candidate, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(rrs) > 0 {
			return rrs, nil
		}
	}
	// Only when no candidate failed do we know that the name has no records.
	return nil, errors.Join(errs...)
}

// searchCandidates returns the fully qualified names to try for name, as
// resolv.conf(5) describes: names with at least ndots dots are tried as
// given first, others after the search domains.
func searchCandidates(name string, search []string, ndots int) []string {
	if dns.IsFqdn(name) {
		return []string{name}
	}
	absoluteFirst := strings.Count(name, ".") >= ndots
	var names []string
	if absoluteFirst {
		names = append(names, dns.Fqdn(name))
	}
	for _, domain := range search {
		domain = strings.Trim(domain, ".")
		if domain == "" {
			continue
		}
		names = append(names, dns.Fqdn(name+"."+domain))
	}
	if !absoluteFirst {
		names = append(names, dns.Fqdn(name))
	}
	return names
}

// lookupName returns the records of type qtype for the fully qualified name,
// following CNAMEs, also those the server did not resolve in its answer.
func (r *MiekgResolver) lookupName(ctx context.Context, cfg *DNSConfig, name string, qtype uint16) ([]dns.RR, error) {
	for range maxCNAMEHops {
		resp, err := exchange(ctx, cfg, name, qtype)
		if err != nil {
			return nil, err
		}
		if resp.Rcode == dns.RcodeNameError {
			return nil, nil
		}
		rrs, last := followCNAMEs(resp.Answer, name, qtype)
		if len(rrs) > 0 || strings.EqualFold(last, name) {
			return rrs, nil
		}
		name = last
	}
	return nil, fmt.Errorf("lookup %s: CNAME chain longer than %d", name, maxCNAMEHops)
}

// followCNAMEs walks the CNAME chain from name inside answer and returns the
// records of type qtype at its end, and the name the chain ends at.
func followCNAMEs(answer []dns.RR, name string, qtype uint16) ([]dns.RR, string) {
	// Each step consumes one CNAME, so a loop ends after len(answer) steps.
	for range len(answer) + 1 {
		var (
			rrs  []dns.RR
			next string
		)
		for _, rr := range answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				rrs = append(rrs, rr)
			case h.Rrtype == dns.TypeCNAME:
				next = rr.(*dns.CNAME).Target
			}
		}
		if len(rrs) > 0 || next == "" {
			return rrs, name
		}
		name = next
	}
	return nil, name
}

// exchange asks the servers in order until one answers with NOERROR or
// NXDOMAIN; other answers (SERVFAIL, REFUSED) and network errors move on to
// the next server.
func exchange(ctx context.Context, cfg *DNSConfig, name string, qtype uint16) (*dns.Msg, error) {
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(ednsBufferSize, false)

	var errs []error
	for _, server := range cfg.Servers {
		resp, err := exchangeWithTCPFallback(ctx, cfg.Timeout, req, server)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
			continue
		}
		if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError {
			return resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %s", server, dns.RcodeToString[resp.Rcode]))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("query %s %s: no DNS servers configured", name, dns.TypeToString[qtype])
	}
	return nil, fmt.Errorf("query %s %s: %w", name, dns.TypeToString[qtype], errors.Join(errs...))
}

// exchangeWithTCPFallback asks over UDP and again over TCP if the answer was
// truncated, as a Service with many pods gives SRV answers too large for UDP.
func exchangeWithTCPFallback(ctx context.Context, timeout time.Duration, req *dns.Msg, server string) (*dns.Msg, error) {
	client := &dns.Client{Net: "udp", Timeout: timeout}
	resp, _, err := client.ExchangeContext(ctx, req, server)
	if err != nil {
		return nil, err
	}
	if !resp.Truncated {
		return resp, nil
	}
	client.Net = "tcp"
	resp, _, err = client.ExchangeContext(ctx, req, server)
	if err != nil {
		return nil, fmt.Errorf("over TCP after truncated UDP answer: %w", err)
	}
	if resp.Truncated {
		return nil, errors.New("truncated answer over TCP")
	}
	return resp, nil
}
