package discovery_test

import (
	"strings"
	"testing"

	"github.com/tandem-metrics/tandem/pkg/discovery"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    discovery.Address
		wantErr string // substring of the error; empty for success
	}{
		{in: "localhost:10901", want: discovery.Address{Lookup: discovery.LookupNone, Host: "localhost", Port: "10901"}},
		{in: "10.0.0.1:10901", want: discovery.Address{Lookup: discovery.LookupNone, Host: "10.0.0.1", Port: "10901"}},
		{in: "[::1]:10901", want: discovery.Address{Lookup: discovery.LookupNone, Host: "::1", Port: "10901"}},
		{in: "  sidecar:10901 ", want: discovery.Address{Lookup: discovery.LookupNone, Host: "sidecar", Port: "10901"}},
		{in: "dns+sidecar.monitoring.svc:10901", want: discovery.Address{Lookup: discovery.LookupA, Host: "sidecar.monitoring.svc", Port: "10901"}},
		{in: "dnsdualstack+sidecar:10901", want: discovery.Address{Lookup: discovery.LookupDualStack, Host: "sidecar", Port: "10901"}},
		{in: "dnssrv+_grpc._tcp.sidecar.monitoring.svc.cluster.local", want: discovery.Address{Lookup: discovery.LookupSRV, Host: "_grpc._tcp.sidecar.monitoring.svc.cluster.local"}},
		{in: "dnssrv+_grpc._tcp.sidecar:10905", want: discovery.Address{Lookup: discovery.LookupSRV, Host: "_grpc._tcp.sidecar", Port: "10905"}},
		{in: "dnssrvnoa+_grpc._tcp.sidecar", want: discovery.Address{Lookup: discovery.LookupSRVNoA, Host: "_grpc._tcp.sidecar"}},

		{in: "", wantErr: "empty address"},
		{in: "   ", wantErr: "empty address"},
		{in: "sidecar", wantErr: "missing port"},
		{in: "dns+sidecar", wantErr: "missing port"},
		{in: ":10901", wantErr: "empty host"},
		{in: "dns+:10901", wantErr: "empty host"},
		{in: "sidecar:", wantErr: "empty port"},
		{in: "sidecar:http", wantErr: `invalid port "http"`},
		{in: "sidecar:70000", wantErr: `invalid port "70000"`},
		{in: "sidecar:0", wantErr: `invalid port "0"`},
		{in: "dnssrv+_grpc._tcp.sidecar:x", wantErr: `invalid port "x"`},
		{in: "dnsfoo+sidecar:10901", wantErr: `unknown scheme "dnsfoo+"`},
		{in: "dns+", wantErr: `nothing after "dns+"`},
		{in: "dnssrv+:10901", wantErr: "empty SRV name"},
		{in: "http://sidecar:10901", wantErr: "URLs are not supported"},
		{in: "a:b:10901", wantErr: "too many colons"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := discovery.ParseAddress(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseAddress(%q) = %+v, want an error containing %q", tc.in, got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseAddress(%q) error = %q, want it to contain %q", tc.in, err, tc.wantErr)
				}
				// The user must see which of their addresses is wrong.
				if !strings.Contains(err.Error(), `"`+tc.in+`"`) {
					t.Errorf("error %q does not quote the address %q", err, tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAddress(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			// String gives back something that parses to the same address.
			again, err := discovery.ParseAddress(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseAddress(%q.String() = %q) = %+v, %v; want %+v", tc.in, got.String(), again, err, got)
			}
		})
	}
}

func TestParseAddressesStopsAtFirstError(t *testing.T) {
	_, err := discovery.ParseAddresses([]string{"a:1", "b", "c"})
	if err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("ParseAddresses error = %v, want one naming \"b\"", err)
	}
	addrs, err := discovery.ParseAddresses([]string{"a:1", "dns+b:2"})
	if err != nil || len(addrs) != 2 || addrs[1].Lookup != discovery.LookupA {
		t.Fatalf("ParseAddresses = %+v, %v", addrs, err)
	}
}
