package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/wait"
)

const (
	// dnsLoadDuration is how long the load runs while DNS changes every
	// dnsFlipInterval.
	dnsLoadDuration = 14 * time.Second
	dnsFlipInterval = 2 * time.Second
	// sidecarsSRV is the SRV name the query resolves.
	sidecarsSRV = "_grpc._tcp.sidecars.tandem.test."
)

// sidecarRecords lists the given gRPC addresses on 127.0.0.1 under
// sidecarsSRV, each under a name of its own, in zone file syntax.
func sidecarRecords(t *testing.T, addrs []string) []string {
	t.Helper()
	var lines []string
	for i, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		host := fmt.Sprintf("sidecar-%d.tandem.test.", i)
		lines = append(lines,
			fmt.Sprintf("%s 1 IN SRV 0 0 %s %s", sidecarsSRV, port, host),
			fmt.Sprintf("%s 1 IN A 127.0.0.1", host))
	}
	return lines
}

// TestDNSChangesUnderLoad lets the query find two sidecars through SRV
// records that change every two seconds under steady load, between both and
// either one, each a replica with all the data: no query may fail, every
// answer is the ground truth, and the query's store list follows DNS.
func TestDNSChangesUnderLoad(t *testing.T) {
	proms := replicas(t, 2)
	a, b := e2etest.Sidecar(t, proms[0].URL()).GRPC, e2etest.Sidecar(t, proms[1].URL()).GRPC
	phases := [][]string{{a, b}, {a}, {a, b}, {b}}

	zone := dnstest.Start(t)
	zone.Set(sidecarRecords(t, phases[0])...)
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("nameserver "+zone.Addr()+"\noptions timeout:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := e2etest.StartQuery(t, []string{"dnssrv+" + strings.TrimSuffix(sidecarsSRV, ".")}, "--query.replica-label=replica",
		"--store.sd-dns-resolv-conf="+resolvConf, "--store.sd-dns-interval=1s")
	q.WaitReady("http://"+q.HTTP+"/-/ready", time.Minute)
	q.WaitHealthyStores(2, time.Minute)

	var sent atomic.Int64
	done := make(chan *loadResult, 1)
	go func() { done <- runLoad("http://"+q.HTTP, loadQPS, dnsLoadDuration, &sent) }()

	flip := time.NewTicker(dnsFlipInterval)
	defer flip.Stop()
	var (
		res     *loadResult
		flips   int
		slowest time.Duration
	)
	for res == nil {
		select {
		case res = <-done:
			continue
		case <-flip.C:
		}
		flips++
		want := phases[flips%len(phases)]
		zone.Set(sidecarRecords(t, want)...)
		changed := time.Now()
		wait.Until(t, 10*time.Second, "store list follows DNS", func() error {
			var healthy []string
			for _, s := range q.Stores() {
				if s.LastError == nil {
					healthy = append(healthy, s.Name)
				}
			}
			slices.Sort(healthy)
			if w := slices.Sorted(slices.Values(want)); !slices.Equal(healthy, w) {
				return fmt.Errorf("healthy stores %q, want %q", healthy, w)
			}
			return nil
		})
		slowest = max(slowest, time.Since(changed))
	}
	t.Logf("%d DNS changes, each followed within %v", flips, slowest.Round(time.Millisecond))
	res.report(t)
	if want := int(dnsLoadDuration/dnsFlipInterval) - 1; flips < want {
		t.Errorf("%d DNS changes under load, want %d", flips, want)
	}
}
