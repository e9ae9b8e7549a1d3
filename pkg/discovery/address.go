package discovery

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Lookup says how an Address turns into the host:port pairs to connect to.
type Lookup int

const (
	// LookupNone means the address is used as given.
	LookupNone Lookup = iota
	// LookupA resolves the host to its IPv4 addresses, or to its IPv6
	// addresses if it has no IPv4 ones.
	LookupA
	// LookupDualStack resolves the host to both its IPv4 and IPv6 addresses.
	LookupDualStack
	// LookupSRV resolves SRV records, then the addresses of each target.
	LookupSRV
	// LookupSRVNoA resolves SRV records and uses their targets as host names.
	LookupSRVNoA
)

// lookupFromScheme maps the prefixes Thanos accepts, without their "+", to
// lookups.
func lookupFromScheme(scheme string) (Lookup, bool) {
	for _, l := range []Lookup{LookupA, LookupDualStack, LookupSRV, LookupSRVNoA} {
		if l.String() == scheme {
			return l, true
		}
	}
	return LookupNone, false
}

func (l Lookup) String() string {
	switch l {
	case LookupNone:
		return "static"
	case LookupA:
		return "dns"
	case LookupDualStack:
		return "dnsdualstack"
	case LookupSRV:
		return "dnssrv"
	case LookupSRVNoA:
		return "dnssrvnoa"
	}
	return "unknown(" + strconv.Itoa(int(l)) + ")"
}

// Address is one parsed endpoint address as given on --endpoint or in a file
// SD file.
type Address struct {
	Lookup Lookup
	// Host is a host name or IP for LookupNone, LookupA and LookupDualStack,
	// and the SRV record name for the SRV lookups.
	Host string
	// Port is always set except for SRV lookups, where it is optional and,
	// when set, replaces the port of every SRV record.
	Port string
}

// ParseAddress parses an address in Thanos's endpoint syntax.
func ParseAddress(s string) (Address, error) {
	addr, err := parseAddress(strings.TrimSpace(s))
	if err != nil {
		return Address{}, fmt.Errorf("invalid endpoint address %q: %w", s, err)
	}
	return addr, nil
}

func parseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, errors.New("empty address")
	}
	if strings.Contains(s, "://") {
		return Address{}, errors.New("URLs are not supported, give host:port or a dns+, dnssrv+ or dnssrvnoa+ name")
	}

	var a Address
	if prefix, rest, ok := strings.Cut(s, "+"); ok {
		lookup, known := lookupFromScheme(prefix)
		if !known {
			return Address{}, fmt.Errorf("unknown scheme %q, want one of dns+, dnsdualstack+, dnssrv+, dnssrvnoa+", prefix+"+")
		}
		a.Lookup, s = lookup, rest
		if s == "" {
			return Address{}, fmt.Errorf("nothing after %q", prefix+"+")
		}
	}

	if a.Lookup == LookupSRV || a.Lookup == LookupSRVNoA {
		// The port comes from the SRV records unless one is given.
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			host, port = s, ""
		}
		if host == "" {
			return Address{}, errors.New("empty SRV name")
		}
		if port != "" {
			if err := checkPort(port); err != nil {
				return Address{}, err
			}
		}
		a.Host, a.Port = host, port
		return a, nil
	}

	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var addrErr *net.AddrError
		if errors.As(err, &addrErr) && addrErr.Err == "missing port in address" {
			return Address{}, errors.New("missing port, want host:port")
		}
		return Address{}, err
	}
	if host == "" {
		return Address{}, errors.New("empty host, want host:port")
	}
	if err := checkPort(port); err != nil {
		return Address{}, err
	}
	a.Host, a.Port = host, port
	return a, nil
}

func checkPort(port string) error {
	if port == "" {
		return errors.New("empty port, want host:port")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("invalid port %q, want a number from 1 to 65535", port)
	}
	return nil
}

// String returns the address in the syntax ParseAddress accepts.
func (a Address) String() string {
	var s string
	if a.Port == "" {
		s = a.Host
	} else {
		s = net.JoinHostPort(a.Host, a.Port)
	}
	if a.Lookup == LookupNone {
		return s
	}
	return a.Lookup.String() + "+" + s
}

// ParseAddresses parses every address and returns the first error.
func ParseAddresses(ss []string) ([]Address, error) {
	addrs := make([]Address, 0, len(ss))
	for _, s := range ss {
		a, err := ParseAddress(s)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}
