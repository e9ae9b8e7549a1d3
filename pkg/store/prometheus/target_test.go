package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// TestTargetIgnoresCallerCancellation checks that a request cancelled
// while the target asks Prometheus does not leave the target failing for
// the requests after it.
func TestTargetIgnoresCallerCancellation(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external})
	u, _ := url.Parse(prom.URL())
	client := promstore.NewClient(u, &http.Client{Transport: promstore.Transport()})
	// Never checked yet, and an hour before a check is stale: the first
	// call asks Prometheus, and a failure it recorded would stick.
	target := promstore.NewTarget(client, slog.New(slog.NewTextHandler(io.Discard, nil)), promstore.TargetOptions{MaxAge: time.Hour, Timeout: time.Minute})

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := target.Ready(cancelled); err == nil {
		t.Fatal("Ready with a cancelled context succeeded, want its error")
	}
	if err := target.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after a cancelled call: %v, want nil", err)
	}
}

// hangingPrometheus is a loopback HTTP proxy in front of a real Prometheus
// whose /metrics, while hanging is set, answers nothing until it is unset
// (then an empty page) or the client gives up.
type hangingPrometheus struct {
	url string

	mu      sync.Mutex
	hanging chan struct{} // closed to end the hang; nil: not hanging
}

func startHangingPrometheus(t *testing.T, prom *promtest.Server) *hangingPrometheus {
	t.Helper()
	u, _ := url.Parse(prom.URL())
	h := &hangingPrometheus{}
	proxy := promtest.Proxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		hang := h.hanging
		h.mu.Unlock()
		if r.URL.Path == "/metrics" && hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.hang(false) })
	h.url = srv.URL
	return h
}

func (h *hangingPrometheus) hang(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on && h.hanging == nil {
		h.hanging = make(chan struct{})
	}
	if !on && h.hanging != nil {
		close(h.hanging)
		h.hanging = nil
	}
}

// readiness asks a sidecar's /-/ready, served by target over loopback HTTP.
func readiness(t *testing.T, target *promstore.Target) func() (int, string) {
	ready := httptest.NewServer(target.ReadyHandler())
	t.Cleanup(ready.Close)
	// Far longer than /-/ready may take, far shorter than a hang.
	client := &http.Client{Timeout: 20 * time.Second}
	return func() (int, string) {
		resp, err := client.Get(ready.URL)
		if err != nil {
			t.Fatalf("/-/ready: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// TestHangingPrometheus stops Prometheus's /metrics from answering: the
// sidecar's readiness (HTTP and gRPC health) and Info say so within about
// a second, many Info calls at once included, while Series and label calls
// go on with the external labels it knows, all of it while the read of
// /metrics still hangs; once /metrics answers again all is well. With a
// short --prometheus.get_config_timeout, the reason names the timeout.
func TestHangingPrometheus(t *testing.T) {
	dataDir := t.TempDir()
	promtest.CreateBlocks(t, dataDir, openMetrics())
	prom := promtest.Start(t, promtest.Config{DataDir: dataDir, ExternalLabels: external})
	hp := startHangingPrometheus(t, prom)
	e := serveSidecar(t, hp.url, promstore.TargetOptions{MaxAge: 200 * time.Millisecond, Timeout: time.Hour})
	short := serveSidecar(t, hp.url, promstore.TargetOptions{MaxAge: 200 * time.Millisecond, Timeout: 300 * time.Millisecond})
	ready, shortReady := readiness(t, e.target), readiness(t, short.target)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	isReady := func(ready func() (int, string)) func() error {
		return func() error {
			if code, body := ready(); code != http.StatusOK {
				return fmt.Errorf("%d %s", code, body)
			}
			return nil
		}
	}
	wait.Until(t, 30*time.Second, "sidecar ready", isReady(ready))
	wait.Until(t, 30*time.Second, "second sidecar ready", isReady(shortReady))
	if resp, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health of a ready sidecar: %v %v, want SERVING", resp, err)
	}

	hp.hang(true)
	// The read of /metrics hangs for an hour: whatever answers does so
	// without waiting for it.
	notHung := func(what string, f func(ctx context.Context) error) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		if err := f(cctx); err != nil || cctx.Err() != nil {
			t.Fatalf("%s with /metrics hanging: %v (%v)", what, err, cctx.Err())
		}
	}
	stillHanging := func() error {
		if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "has not answered for") {
			return fmt.Errorf("/-/ready: %d %q", code, body)
		}
		return nil
	}
	wait.Until(t, 20*time.Second, "a refresh to hang", stillHanging)
	notHung("gRPC health", func(ctx context.Context) error {
		resp, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			err = fmt.Errorf("status %v, want NOT_SERVING", resp.Status)
		}
		return err
	})
	notHung("10 Info calls at once", func(ctx context.Context) error {
		var g errgroup.Group
		for range 10 {
			g.Go(func() error {
				if _, err := e.info.Info(ctx, &infopb.InfoRequest{}); status.Code(err) != codes.Unavailable {
					return fmt.Errorf("Info: %v, want Unavailable", err)
				}
				return nil
			})
		}
		return g.Wait()
	})
	notHung("Series", func(ctx context.Context) error {
		got, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: base + samples*step,
			Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}})
		if len(got) != 3 || got[0].labels.Get("replica") != "r1" || len(got[0].samples) != samples {
			return fmt.Errorf("series %v, want the 3 gauges whole, with the external labels", names(got))
		}
		return nil
	})
	notHung("LabelValues", func(ctx context.Context) error {
		v, err := e.client.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "replica", Start: math.MinInt64, End: math.MaxInt64})
		if err == nil && !slices.Equal(v.Values, []string{"r1"}) {
			err = fmt.Errorf("values %v, want [r1]", v.Values)
		}
		return err
	})
	if err := stillHanging(); err != nil {
		t.Fatalf("the read of /metrics ended before the calls above: %v", err)
	}
	wait.Until(t, 20*time.Second, "the short refresh to time out", func() error {
		if _, body := shortReady(); !strings.Contains(body, "did not answer within 300ms (--prometheus.get_config_timeout)") {
			return fmt.Errorf("/-/ready: %q", body)
		}
		return nil
	})

	hp.hang(false)
	wait.Until(t, 20*time.Second, "ready again", isReady(ready))
	wait.Until(t, 20*time.Second, "second sidecar ready again", isReady(shortReady))
}
