package discovery

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
)

// Options configure a Set. Zero fields take the defaults of DefaultOptions,
// which match the Thanos querier's flags.
type Options struct {
	// Endpoints are the addresses of --endpoint (alias --store), in the
	// syntax of ParseAddress.
	Endpoints []string
	// FileSDFiles are the globs of --store.sd-files.
	FileSDFiles []string
	// FileSDInterval is --store.sd-interval: how often file SD files are
	// re-read even without a change event. Default 5m.
	FileSDInterval time.Duration

	// DNSInterval is --store.sd-dns-interval. Default 30s.
	DNSInterval time.Duration
	// DNSResolver is --store.sd-dns-resolver: ResolverMiekgDNS (default) or
	// ResolverGolang.
	DNSResolver string
	// ResolvConf is the resolv.conf(5) file of the miekgdns resolver.
	// Default /etc/resolv.conf.
	ResolvConf string
	// Resolver, if set, is used instead of the one DNSResolver names.
	Resolver Resolver

	// InfoInterval is how often every endpoint's Info is called. Default 5s.
	InfoInterval time.Duration
	// InfoTimeout is --endpoint.info-timeout. Default 5s.
	InfoTimeout time.Duration
	// UnhealthyTimeout is --store.unhealthy-timeout: how long an endpoint
	// whose Info fails stays listed before it is dropped. Default 5m.
	UnhealthyTimeout time.Duration
	// CloseGrace is how long the connection to an endpoint that left
	// discovery stays open for the queries still reading from it. Default 2m,
	// the default query timeout.
	CloseGrace time.Duration

	// DialOptions are added after the Set's own (insecure transport
	// credentials, reconnect backoff), so a transport credentials option here
	// replaces the insecure default.
	DialOptions []grpc.DialOption
}

// DefaultOptions returns the defaults of the Thanos querier's flags.
func DefaultOptions() Options {
	return Options{
		FileSDInterval:   5 * time.Minute,
		DNSInterval:      30 * time.Second,
		DNSResolver:      ResolverMiekgDNS,
		ResolvConf:       "/etc/resolv.conf",
		InfoInterval:     5 * time.Second,
		InfoTimeout:      5 * time.Second,
		UnhealthyTimeout: 5 * time.Minute,
		CloseGrace:       2 * time.Minute,
	}
}

// withDefaults fills the zero fields of o from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDefault := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDefault(&o.FileSDInterval, d.FileSDInterval)
	setDefault(&o.DNSInterval, d.DNSInterval)
	setDefault(&o.InfoInterval, d.InfoInterval)
	setDefault(&o.InfoTimeout, d.InfoTimeout)
	setDefault(&o.UnhealthyTimeout, d.UnhealthyTimeout)
	setDefault(&o.CloseGrace, d.CloseGrace)
	if o.DNSResolver == "" {
		o.DNSResolver = d.DNSResolver
	}
	if o.ResolvConf == "" {
		o.ResolvConf = d.ResolvConf
	}
	return o
}

func (o Options) validate() error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"--store.sd-interval", o.FileSDInterval},
		{"--store.sd-dns-interval", o.DNSInterval},
		{"endpoint info interval", o.InfoInterval},
		{"--endpoint.info-timeout", o.InfoTimeout},
		{"--store.unhealthy-timeout", o.UnhealthyTimeout},
		{"endpoint close grace", o.CloseGrace},
	} {
		if d.value < 0 {
			return fmt.Errorf("%s: must not be negative, got %s", d.name, d.value)
		}
	}
	return nil
}

// resolver returns the Resolver that the options name.
func (o Options) resolver() (Resolver, error) {
	if o.Resolver != nil {
		return o.Resolver, nil
	}
	switch o.DNSResolver {
	case ResolverMiekgDNS:
		return NewMiekgResolverFromFile(o.ResolvConf), nil
	case ResolverGolang:
		return GolangResolver{}, nil
	}
	return nil, fmt.Errorf("--store.sd-dns-resolver: unknown resolver %q, want %s or %s", o.DNSResolver, ResolverMiekgDNS, ResolverGolang)
}
