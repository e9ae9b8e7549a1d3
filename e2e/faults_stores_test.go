package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// fixtureStore serves the fixture's data as replica r<replica> from an
// in-process TSDB behind a real Store API server, so that a test can make
// its Series calls misbehave with beforeSeries.
func fixtureStore(t *testing.T, replica int, beforeSeries func(context.Context, *storepb.SeriesRequest) error) *storetest.Server {
	t.Helper()
	var series []storetest.Series
	for i := range targets {
		s := storetest.Series{Labels: labels.FromStrings("__name__", "http_requests_total",
			"instance", fmt.Sprintf("host-%d", i), "job", "web")}
		for j := range samples {
			s.Samples = append(s.Samples, storetest.Sample{T: base2(j).UnixMilli(), V: value(i, j)})
		}
		series = append(series, s)
	}
	return storetest.Start(t, storetest.OpenTSDB(t, series...), storetest.Options{
		ExternalLabels:       labels.FromStrings("cluster", "eu", "replica", fmt.Sprintf("r%d", replica)),
		WithoutReplicaLabels: true,
		BeforeSeries:         beforeSeries,
	})
}

// blackHole accepts TCP connections on loopback and holds them, silent,
// until the test ends.
func blackHole(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return lis.Addr().String()
}

// TestSilentStores puts a store that never answers next to a real replica,
// under a query with a 1 s response timeout. Whether the store holds the
// connection without a word or answers Info and then never Series, every
// query returns within about the timeout: with partial response the real
// replica's data and a warning naming the silent store, without it an
// error naming it.
func TestSilentStores(t *testing.T) {
	const responseTimeout = time.Second
	prom := replicas(t, 1)[0]
	sidecar := e2etest.Sidecar(t, prom.URL())

	for _, tc := range []struct {
		name string
		// start returns the silent store's address.
		start func(t *testing.T) string
		// queried: the store answers Info, so queries reach it.
		queried bool
	}{
		{"accepts connections and never speaks", blackHole, false},
		{"answers Info, never Series", func(t *testing.T) string {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			// Deaf to cancellation too, as a wedged server is.
			return fixtureStore(t, 1, func(context.Context, *storepb.SeriesRequest) error {
				<-release
				return errors.New("released")
			}).Addr()
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			silent := tc.start(t)
			q := e2etest.StartQuery(t, []string{sidecar.GRPC, silent}, "--query.replica-label=replica",
				"--store.response-timeout="+responseTimeout.String(), "--endpoint.info-timeout=1s")
			q.WaitReady("http://"+q.HTTP+"/-/ready", time.Minute)
			q.WaitHealthyStores(1, time.Minute)
			if tc.queried {
				q.WaitHealthyStores(2, time.Minute)
			} else if storeHealth(q, silent) == nil {
				t.Fatalf("%s listed as healthy", silent)
			}
			client := &http.Client{Timeout: time.Minute}
			for _, partial := range []bool{true, false} {
				params := loadKinds[0].params(100)
				params.Set("partial_response", fmt.Sprint(partial))
				start := time.Now()
				r, err := get(client, "http://"+q.HTTP, loadKinds[0].path, params)
				took := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("partial_response=%v: %v: %d %s %s %q", partial, took.Round(time.Millisecond), r.Code, r.ErrorType, r.Error, r.Warnings)
				if took > responseTimeout+2*time.Second {
					t.Errorf("partial_response=%v: answered after %v with a %v response timeout", partial, took, responseTimeout)
				}
				switch {
				case !tc.queried || partial:
					if r.Status != "success" {
						t.Fatalf("partial_response=%v: %d %s: %s", partial, r.Code, r.ErrorType, r.Error)
					}
					if err := loadKinds[0].check(r.Data, 100); err != nil {
						t.Errorf("partial_response=%v: %v", partial, err)
					}
					named := len(r.Warnings) == 1 && strings.Contains(r.Warnings[0], silent)
					if tc.queried && !named {
						t.Errorf("warnings %q, want one naming %s", r.Warnings, silent)
					}
					if !tc.queried && len(r.Warnings) > 0 {
						t.Errorf("warnings %q for a store never healthy, want none", r.Warnings)
					}
				default:
					if r.Status != "error" || r.Code != http.StatusServiceUnavailable || r.ErrorType != "timeout" || !strings.Contains(r.Error, silent) {
						t.Errorf("partial_response=false: %d %s %q, want 503 timeout naming %s", r.Code, r.ErrorType, r.Error, silent)
					}
				}
			}
		})
	}
}

// TestQueryShutdownDrainsInFlight sends SIGTERM to a query while two calls
// whose store takes 2 s are in flight, a PromQL query over HTTP and a Series
// call to the Store API the query serves: both listeners refuse new
// connections at once, both calls complete with their full answers, and the
// process exits 0.
func TestQueryShutdownDrainsInFlight(t *testing.T) {
	const delay = 2 * time.Second
	started := make(chan struct{}, 2)
	slow := fixtureStore(t, 0, func(ctx context.Context, _ *storepb.SeriesRequest) error {
		started <- struct{}{}
		select {
		case <-time.After(delay): // the fault: a slow store
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	q := e2etest.Query(t, []string{slow.Addr()}, "--query.replica-label=replica",
		"--http-grace-period=20s", "--grpc-grace-period=20s")
	base := "http://" + q.HTTP

	type answer struct {
		r    e2etest.APIResponse
		err  error
		took time.Duration
	}
	httpDone := make(chan answer, 1)
	go func() {
		start := time.Now()
		r, err := get(&http.Client{Timeout: time.Minute}, base, loadKinds[0].path, loadKinds[0].params(100))
		httpDone <- answer{r, err, time.Since(start)}
	}()
	upper := storetest.Dial(t, q.GRPC, storetest.Options{})
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- readSeries(upper, targets) }()
	for range 2 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("the store never got both Series calls")
		}
	}
	terminateRefusingNew(t, q, delay/2)
	if len(httpDone) > 0 || len(grpcDone) > 0 {
		t.Fatal("a call in flight ended before the store answered")
	}

	a := <-httpDone
	if a.err != nil || a.r.Status != "success" {
		t.Fatalf("query in flight at SIGTERM: %+v %v", a.r, a.err)
	}
	if err := loadKinds[0].check(a.r.Data, 100); err != nil {
		t.Fatalf("query in flight at SIGTERM: %v", err)
	}
	if len(a.r.Warnings) > 0 {
		t.Errorf("query in flight at SIGTERM: warnings %q", a.r.Warnings)
	}
	t.Logf("query in flight completed after %v", a.took.Round(time.Millisecond))
	if err := <-grpcDone; err != nil {
		t.Errorf("Series call in flight at SIGTERM: %v", err)
	}
	q.WaitExitOK(t, 20*time.Second)
}

// terminateRefusingNew sends p SIGTERM and waits at most within for both
// its ports to refuse connections. A request on a connection accepted just
// before the signal is in flight too, so what must fail is connecting. It
// returns when the signal was sent.
func terminateRefusingNew(t *testing.T, p *e2etest.Process, within time.Duration) time.Time {
	t.Helper()
	signalled := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, within, "new connections refused", func() error {
		for _, addr := range []string{p.HTTP, p.GRPC} {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return fmt.Errorf("%s still accepts connections", addr)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	})
	t.Logf("new connections refused %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
	return signalled
}

// readSeries reads the fixture's series from a Store API and checks that
// there are want of them, with all their samples.
func readSeries(c storepb.StoreClient, want int) error {
	stream, err := c.Series(context.Background(), &storepb.SeriesRequest{
		MinTime: base2(0).UnixMilli(), MaxTime: base2(samples).UnixMilli(),
		Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "http_requests_total"}},
	})
	if err != nil {
		return err
	}
	var got int
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d series: %w", got, err)
		}
		var series []*storepb.Series
		if b := resp.GetBatch(); b != nil {
			series = b.Series
		}
		if s := resp.GetSeries(); s != nil {
			series = append(series, s)
		}
		for _, s := range series {
			var n int
			for _, c := range s.Chunks {
				chk, err := store.DecodeChunk(c.Raw)
				if err != nil {
					return err
				}
				n += chk.NumSamples()
			}
			if n != samples {
				return fmt.Errorf("series %v: %d samples, want %d", s.PromLabels(), n, samples)
			}
			got++
		}
		if w := resp.GetWarning(); w != "" {
			return fmt.Errorf("warning: %s", w)
		}
	}
	if got != want {
		return fmt.Errorf("%d series, want %d", got, want)
	}
	return nil
}
