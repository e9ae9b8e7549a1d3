package discovery_test

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

func TestGolangResolver(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Set(
		"_grpc._tcp.sidecar.example. 5 IN SRV 0 50 10901 sidecar-0.example.",
		"sidecar-0.example. 5 IN A 127.0.0.1",
	)
	// The Go resolver, sent to the test server instead of resolv.conf's.
	r := discovery.GolangResolver{Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, zone.Addr())
		},
	}}
	ctx := context.Background()

	srvs, err := r.LookupSRV(ctx, "_grpc._tcp.sidecar.example.")
	if err != nil || len(srvs) != 1 || srvs[0].Target != "sidecar-0.example." || srvs[0].Port != 10901 {
		t.Fatalf("LookupSRV = %v, %v; want sidecar-0.example.:10901", srvs, err)
	}
	ips, err := r.LookupIP(ctx, "ip4", "sidecar-0.example.")
	if err != nil || !slices.Equal(ipStrings(ips), []string{"127.0.0.1"}) {
		t.Fatalf("LookupIP = %v, %v; want 127.0.0.1", ips, err)
	}
	// A missing name is an empty answer, as with the miekgdns resolver.
	if ips, err := r.LookupIP(ctx, "ip4", "nope.example."); err != nil || len(ips) != 0 {
		t.Fatalf("LookupIP of a missing name = %v, %v; want nothing and no error", ips, err)
	}
	zone.SetServfail(true)
	if _, err := r.LookupSRV(ctx, "_grpc._tcp.sidecar.example."); err == nil {
		t.Fatal("LookupSRV with SERVFAIL succeeded, want an error so the last good answer is kept")
	}
}
