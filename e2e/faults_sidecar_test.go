package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// TestSidecarShutdownDrainsInFlight stops a sidecar with SIGTERM while a
// Series call is reading from Prometheus: the sidecar must refuse new
// connections at once, finish the call with every series, and exit 0.
func TestSidecarShutdownDrainsInFlight(t *testing.T) {
	const delay = 2 * time.Second
	prom := replicas(t, 1)[0]
	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	// Between the sidecar and Prometheus, a proxy holds remote-read
	// answers back (the fault: a slow Prometheus), so that the call is in
	// flight when the signal comes.
	forward := promtest.Proxy(target)
	reading := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/read" {
			select {
			case reading <- struct{}{}:
			default:
			}
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)

	sidecar := e2etest.Sidecar(t, slow.URL, "--grpc-grace-period=20s", "--http-grace-period=20s")
	client := storetest.Dial(t, sidecar.GRPC, storetest.Options{})
	done := make(chan error, 1)
	go func() { done <- readSeries(client, targets) }()
	select {
	case <-reading:
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar never read from Prometheus")
	}
	signalled := terminateRefusingNew(t, sidecar, delay/2)
	if len(done) > 0 {
		t.Fatal("the Series call ended before Prometheus answered")
	}

	if err := <-done; err != nil {
		t.Fatalf("Series call in flight at SIGTERM: %v", err)
	}
	t.Logf("Series call in flight completed %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	sidecar.WaitExitOK(t, 20*time.Second)
}
