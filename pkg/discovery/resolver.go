package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Resolver looks up the DNS records behind the dns+ and dnssrv+ forms.
//
// A name that does not exist, or has no records of the type asked for, is an
// empty answer and no error: that is what DNS says of a headless Service
// without ready pods, and the endpoints should go. An error means no answer
// (timeout, SERVFAIL, ...), and the caller keeps its last good one.
type Resolver interface {
	// LookupIP returns the addresses of host; network is "ip4" or "ip6".
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	// LookupSRV returns the SRV records of name, e.g. _grpc._tcp.sidecar.
	LookupSRV(ctx context.Context, name string) ([]*net.SRV, error)
}

// Resolver names accepted by --store.sd-dns-resolver.
const (
	ResolverMiekgDNS = "miekgdns"
	ResolverGolang   = "golang"
)

// GolangResolver is a Resolver on the Go standard library's net.Resolver.
type GolangResolver struct {
	Resolver *net.Resolver
}

// LookupIP implements Resolver.
func (r GolangResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	ips, err := r.resolver().LookupIP(ctx, network, host)
	if isNotFound(err) {
		return nil, nil
	}
	return ips, err
}

// LookupSRV implements Resolver.
func (r GolangResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, error) {
	// Empty service and proto make net.Resolver look up name as given.
	_, srvs, err := r.resolver().LookupSRV(ctx, "", "", name)
	if isNotFound(err) {
		return nil, nil
	}
	return srvs, err
}

func (r GolangResolver) resolver() *net.Resolver {
	if r.Resolver == nil {
		return net.DefaultResolver
	}
	return r.Resolver
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// resolveAddress returns the sorted host:port pairs that a resolves to.
func resolveAddress(ctx context.Context, r Resolver, a Address) ([]string, error) {
	var targets []string
	switch a.Lookup {
	case LookupNone:
		return []string{net.JoinHostPort(a.Host, a.Port)}, nil

	case LookupA, LookupDualStack:
		ips, err := lookupHost(ctx, r, a.Host, a.Lookup == LookupDualStack)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			targets = append(targets, net.JoinHostPort(ip.String(), a.Port))
		}

	case LookupSRV, LookupSRVNoA:
		srvs, err := r.LookupSRV(ctx, a.Host)
		if err != nil {
			return nil, fmt.Errorf("lookup SRV %s: %w", a.Host, err)
		}
		for _, srv := range srvs {
			port := a.Port
			if port == "" {
				port = strconv.Itoa(int(srv.Port))
			}
			target := strings.TrimSuffix(srv.Target, ".")
			if target == "" {
				// RFC 2782: a target of "." means the service is not here.
				continue
			}
			if a.Lookup == LookupSRVNoA {
				targets = append(targets, net.JoinHostPort(target, port))
				continue
			}
			// One target failing fails the whole answer: a partial one
			// would drop endpoints that are still there.
			ips, err := lookupHost(ctx, r, target, false)
			if err != nil {
				return nil, fmt.Errorf("SRV %s target: %w", a.Host, err)
			}
			for _, ip := range ips {
				targets = append(targets, net.JoinHostPort(ip.String(), port))
			}
		}

	default:
		return nil, fmt.Errorf("unknown lookup %v", a.Lookup)
	}
	slices.Sort(targets)
	return slices.Compact(targets), nil
}

// lookupHost returns the IPv4 addresses of host, or its IPv6 ones if it has
// none, or both if dualStack is set.
func lookupHost(ctx context.Context, r Resolver, host string, dualStack bool) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	ips, err := r.LookupIP(ctx, "ip4", host)
	if err != nil {
		return nil, fmt.Errorf("lookup A %s: %w", host, err)
	}
	if len(ips) > 0 && !dualStack {
		return ips, nil
	}
	ip6s, err := r.LookupIP(ctx, "ip6", host)
	if err != nil {
		return nil, fmt.Errorf("lookup AAAA %s: %w", host, err)
	}
	return append(ips, ip6s...), nil
}
