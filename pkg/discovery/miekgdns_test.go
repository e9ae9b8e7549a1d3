package discovery_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

func ipStrings(ips []net.IP) []string {
	var ss []string
	for _, ip := range ips {
		ss = append(ss, ip.String())
	}
	slices.Sort(ss)
	return ss
}

func TestMiekgResolver(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Set(
		"_grpc._tcp.sidecar.monitoring.svc.cluster.local. 5 IN SRV 0 50 10901 sidecar-0.sidecar.monitoring.svc.cluster.local.",
		"_grpc._tcp.sidecar.monitoring.svc.cluster.local. 5 IN SRV 0 50 10902 sidecar-1.sidecar.monitoring.svc.cluster.local.",
		"sidecar-0.sidecar.monitoring.svc.cluster.local. 5 IN A 127.0.0.1",
		// A CNAME whose target the server does not put in the answer.
		"alias.monitoring.svc.cluster.local. 5 IN CNAME alias2.monitoring.svc.cluster.local.",
		"alias2.monitoring.svc.cluster.local. 5 IN CNAME sidecar-0.sidecar.monitoring.svc.cluster.local.",
		"v6.monitoring.svc.cluster.local. 5 IN AAAA ::1",
	)
	r := discovery.NewMiekgResolver(discovery.DNSConfig{
		Servers: []string{zone.Addr()},
		Search:  []string{"monitoring.svc.cluster.local", "svc.cluster.local"},
		Ndots:   5,
		Timeout: 2 * time.Second,
	})
	ctx := context.Background()

	srvs, err := r.LookupSRV(ctx, "_grpc._tcp.sidecar")
	if err != nil {
		t.Fatalf("LookupSRV through the search path: %v", err)
	}
	var got []string
	for _, s := range srvs {
		got = append(got, net.JoinHostPort(s.Target, strconv.Itoa(int(s.Port))))
	}
	slices.Sort(got)
	want := []string{
		"sidecar-0.sidecar.monitoring.svc.cluster.local.:10901",
		"sidecar-1.sidecar.monitoring.svc.cluster.local.:10902",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LookupSRV = %q, want %q", got, want)
	}

	ips, err := r.LookupIP(ctx, "ip4", "alias")
	if err != nil || !slices.Equal(ipStrings(ips), []string{"127.0.0.1"}) {
		t.Fatalf("LookupIP through a CNAME chain = %v, %v; want 127.0.0.1", ips, err)
	}

	ips, err = r.LookupIP(ctx, "ip6", "v6.monitoring.svc.cluster.local.")
	if err != nil || !slices.Equal(ipStrings(ips), []string{"::1"}) {
		t.Fatalf("LookupIP ip6 = %v, %v; want ::1", ips, err)
	}

	// A name that does not exist is an empty answer, not an error.
	ips, err = r.LookupIP(ctx, "ip4", "nope")
	if err != nil || len(ips) != 0 {
		t.Fatalf("LookupIP of a missing name = %v, %v; want nothing and no error", ips, err)
	}

	zone.SetServfail(true)
	if _, err := r.LookupSRV(ctx, "_grpc._tcp.sidecar"); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("LookupSRV with SERVFAIL: err = %v, want one naming SERVFAIL", err)
	}
}

func TestMiekgResolverTriesNextServer(t *testing.T) {
	broken, good := dnstest.Start(t), dnstest.Start(t)
	broken.SetServfail(true)
	good.Set("sidecar.example. 5 IN A 127.0.0.1")
	r := discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{broken.Addr(), good.Addr()}, Ndots: 1, Timeout: 2 * time.Second})

	ips, err := r.LookupIP(context.Background(), "ip4", "sidecar.example")
	if err != nil || !slices.Equal(ipStrings(ips), []string{"127.0.0.1"}) {
		t.Fatalf("LookupIP = %v, %v; want the second server's 127.0.0.1", ips, err)
	}
	if broken.ServfailCount() == 0 {
		t.Fatal("the first server was never asked")
	}
}

func TestMiekgResolverFallsBackToTCP(t *testing.T) {
	zone := dnstest.Start(t)
	zone.Set("sidecar.example. 5 IN A 127.0.0.1")
	zone.SetTruncateUDP(true)
	r := discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{zone.Addr()}, Ndots: 1, Timeout: 2 * time.Second})

	ips, err := r.LookupIP(context.Background(), "ip4", "sidecar.example.")
	if err != nil || !slices.Equal(ipStrings(ips), []string{"127.0.0.1"}) {
		t.Fatalf("LookupIP = %v, %v; want 127.0.0.1 over TCP", ips, err)
	}
	if log := zone.Queries(); !slices.Contains(log, "sidecar.example. A tcp") {
		t.Fatalf("queries = %q, want a TCP one after the truncated UDP answer", log)
	}
}

func TestReadResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	content := "nameserver 10.96.0.10\nnameserver fd00::10\nnameserver 127.0.0.1:5353\nsearch monitoring.svc.cluster.local svc.cluster.local\noptions ndots:5 timeout:3\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := discovery.ReadResolvConf(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Servers, []string{"10.96.0.10:53", "[fd00::10]:53", "127.0.0.1:5353"}) ||
		!slices.Equal(cfg.Search, []string{"monitoring.svc.cluster.local", "svc.cluster.local"}) ||
		cfg.Ndots != 5 || cfg.Timeout != 3*time.Second {
		t.Fatalf("ReadResolvConf = %+v", cfg)
	}

	if _, err := discovery.ReadResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("ReadResolvConf of a missing file succeeded")
	}
}
