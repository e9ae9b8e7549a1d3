package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/promtest"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// headInReverse is a Prometheus whose head holds its series in the reverse
// of their label order, as a head does whose series came and went in no
// particular order: the order Prometheus's index lists them in is not the
// label order then.
func headInReverse(t *testing.T) (*promtest.Server, []string) {
	t.Helper()
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external, Args: []string{"--web.enable-remote-write-receiver"}})
	f := promtest.Family{Name: "reverse", Type: "gauge"}
	var want []string
	for i := 59; i >= 0; i-- {
		lset := map[string]string{"i": fmt.Sprintf("%02d", i)}
		if i%10 == 0 {
			lset["extra"] = "x" // a longer label set among shorter ones
		}
		f.Series = append(f.Series, promtest.Series{Labels: lset, Samples: []promtest.Sample{{T: base, V: 1}, {T: base + step, V: 2}}})
		want = append(want, labels.FromMap(lset).String())
	}
	prom.RemoteWrite(t, f)
	slices.Sort(want)
	return prom, want
}

// TestSeriesWithoutChunksAsksTheSeriesAPI checks that a Series call without
// chunks reads the head's series from Prometheus's series API, not by
// remote read, which would have Prometheus read and cut every chunk: the
// answer is the series a call with chunks gives, in label order, at once
// with others.
func TestSeriesWithoutChunksAsksTheSeriesAPI(t *testing.T) {
	prom, _ := headInReverse(t)
	reg := promclient.NewRegistry()
	e := serveSidecarWith(t, prom.URL(), promstore.TargetOptions{MaxAge: 500 * time.Millisecond, Timeout: time.Minute}, nil, reg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	match := []storepb.LabelMatcher{eq("__name__", "reverse")}
	req := &storepb.SeriesRequest{MinTime: base, MaxTime: base + step, Matchers: match}

	full, _, _ := series(ctx, t, e.client, req)
	if len(full) != 60 {
		t.Fatalf("%d series with chunks, want 60", len(full))
	}
	readBefore := counterValue(t, reg, "tandem_sidecar_remote_read_bytes_total")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			skipped, _, _, err := seriesNoFatal(ctx, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: base + step, Matchers: match, SkipChunks: true})
			switch {
			case err != nil:
				errs <- err
			case !slices.Equal(names(skipped), names(full)):
				errs <- fmt.Errorf("series without chunks %v, want %v", names(skipped), names(full))
			case slices.ContainsFunc(skipped, func(s gotSeries) bool { return s.chunks > 0 }):
				errs <- fmt.Errorf("chunks in an answer without chunks")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if read := counterValue(t, reg, "tandem_sidecar_remote_read_bytes_total") - readBefore; read != 0 {
		t.Errorf("%v bytes of remote read for series without chunks, want none", read)
	}
	for i := 1; i < len(full); i++ {
		if labels.Compare(full[i-1].labels, full[i].labels) >= 0 {
			t.Fatalf("%s before %s", full[i-1].labels, full[i].labels)
		}
	}

	limited, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: base + step, Matchers: match, SkipChunks: true, Limit: 5})
	if !slices.Equal(names(limited), names(full)[:5]) {
		t.Fatalf("limit 5: %v, want %v", names(limited), names(full)[:5])
	}
}

// TestSeriesAPIFromABrokenPrometheus puts a Prometheus that answers the
// series API wrongly behind the sidecar: each answer costs the call a clear
// gRPC status, in time, and a warning Prometheus gives is passed on.
func TestSeriesAPIFromABrokenPrometheus(t *testing.T) {
	prom, _ := headInReverse(t)
	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	forward := promtest.Proxy(target)
	answer := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/series" {
			forward.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, <-answer)
	}))
	defer srv.Close()
	e := serveSidecar(t, srv.URL, promstore.TargetOptions{MaxAge: 500 * time.Millisecond, Timeout: time.Minute})

	huge := strings.Repeat("v", 2<<20)
	for _, tc := range []struct {
		name, body string
		code       codes.Code
		says       string
		warning    string
	}{
		{"out of order", `{"status":"success","data":[{"__name__":"reverse","i":"02"},{"__name__":"reverse","i":"01"}]}`, codes.Internal, "out of label order", ""},
		{"one series twice", `{"status":"success","data":[{"__name__":"reverse","i":"01"},{"__name__":"reverse","i":"01"}]}`, codes.Internal, "out of label order", ""},
		{"a huge label", `{"status":"success","data":[{"__name__":"reverse","i":"` + huge + `"}]}`, codes.Unavailable, "a series larger than", ""},
		{"cut short", `{"status":"success","data":[{"__name__":"reverse","i":"01"},{"__na`, codes.Unavailable, "decode /api/v1/series", ""},
		{"not an object", `["reverse"]`, codes.Unavailable, "decode /api/v1/series", ""},
		{"a series that is no map", `{"status":"success","data":[["__name__","reverse"]]}`, codes.Unavailable, "decode /api/v1/series", ""},
		{"a warning", `{"status":"success","warnings":["too many series"],"data":[{"__name__":"reverse","i":"01"}]}`, codes.OK, "", "too many series"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer <- tc.body
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, warnings, _, err := seriesNoFatal(ctx, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: base + step,
				Matchers: []storepb.LabelMatcher{eq("__name__", "reverse")}, SkipChunks: true})
			if ctx.Err() != nil {
				t.Fatal("no answer in time")
			}
			if got := status.Code(err); got != tc.code || (err != nil && !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("error %v, want %v saying %q", err, tc.code, tc.says)
			}
			if tc.warning != "" && !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, tc.warning) }) {
				t.Fatalf("warnings %v, want one saying %q", warnings, tc.warning)
			}
		})
	}
}
