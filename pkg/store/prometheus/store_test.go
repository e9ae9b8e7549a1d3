package prometheus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/blocks"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// base is when the test data starts: a fixed past time, so that blocks are
// deterministic.
var base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

const (
	step    = 15_000
	samples = 480 // two hours
)

// value is the exact value written for series i at sample j.
func value(i, j int) float64 { return float64(i*1000 + j) }

// testSeries are the series written, by their own labels.
var testSeries = []map[string]string{
	{"__name__": "gauge", "instance": "a", "job": "x"},
	{"__name__": "gauge", "instance": "b", "job": "x"},
	{"__name__": "gauge", "instance": "c", "job": "y"},
	// A prefix pair: {a} sorts before {a,b} by its own labels but after it
	// once cluster/replica are attached.
	{"__name__": "prefix", "a": "1"},
	{"__name__": "prefix", "a": "1", "b": "1"},
	{"__name__": "prefix", "a": "1", "b": "2"},
	{"__name__": "prefix", "a": "2"},
}

var external = map[string]string{"cluster": "eu", "replica": "r1"}

func openMetrics() string {
	byName := map[string]*promtest.Family{}
	var order []string
	for i, s := range testSeries {
		name := s["__name__"]
		f, ok := byName[name]
		if !ok {
			f = &promtest.Family{Name: name, Type: "gauge"}
			byName[name] = f
			order = append(order, name)
		}
		lbls := map[string]string{}
		for k, v := range s {
			if k != "__name__" {
				lbls[k] = v
			}
		}
		ser := promtest.Series{Labels: lbls}
		for j := range samples {
			ser.Samples = append(ser.Samples, promtest.Sample{T: base + int64(j)*step, V: value(i, j)})
		}
		f.Series = append(f.Series, ser)
	}
	var fams []promtest.Family
	for _, n := range order {
		fams = append(fams, *byName[n])
	}
	return promtest.OpenMetrics(fams...)
}

type env struct {
	prom   *promtest.Server
	target *promstore.Target
	client storepb.StoreClient
	info   infopb.InfoClient
	health healthpb.HealthClient
}

func setup(t testing.TB) *env {
	t.Helper()
	return setupWith(t, openMetrics())
}

// setupWith serves a Prometheus holding the given OpenMetrics history.
func setupWith(t testing.TB, om string) *env {
	t.Helper()
	return setupFloor(t, om, nil)
}

// setupFloor is setupWith with a --min-time floor.
func setupFloor(t testing.TB, om string, minTime func(time.Time) int64) *env {
	t.Helper()
	dataDir := t.TempDir()
	promtest.CreateBlocks(t, dataDir, om)
	prom := promtest.Start(t, promtest.Config{DataDir: dataDir, ExternalLabels: external})

	e := serveSidecar(t, prom.URL(), promstore.TargetOptions{MinTime: minTime, MaxAge: 500 * time.Millisecond, Timeout: time.Minute})
	e.prom = prom
	return e
}

// serveSidecar serves the Store, Info and health APIs of a sidecar for the
// Prometheus at promURL on a loopback port.
func serveSidecar(t testing.TB, promURL string, opts promstore.TargetOptions) *env {
	t.Helper()
	return serveSidecarWith(t, promURL, opts, nil, nil)
}

// serveSidecarWith is serveSidecar reading blocks from dir, with its
// metrics on reg (either may be nil).
func serveSidecarWith(t testing.TB, promURL string, opts promstore.TargetOptions, dir *blocks.Dir, reg *promclient.Registry) *env {
	t.Helper()
	u, err := url.Parse(promURL)
	if err != nil {
		t.Fatal(err)
	}
	client := promstore.NewClient(u, &http.Client{Transport: promstore.Transport()})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	target := promstore.NewTarget(client, logger, opts)
	metrics := promstore.NewMetrics(nil)
	if reg != nil {
		metrics = promstore.NewMetrics(reg)
	}
	conn := storetest.Serve(t, func(srv *grpc.Server) {
		storepb.RegisterStoreServer(srv, promstore.NewStore(client, target, dir, logger, metrics))
		infopb.RegisterInfoServer(srv, target)
		healthpb.RegisterHealthServer(srv, promstore.NewHealth(target))
	})
	return &env{target: target, client: storepb.NewStoreClient(conn), info: infopb.NewInfoClient(conn), health: healthpb.NewHealthClient(conn)}
}

type gotSeries struct {
	labels  labels.Labels
	samples []promtest.Sample
	chunks  int
}

// series runs a Series call and decodes every chunk.
func series(ctx context.Context, t *testing.T, c storepb.StoreClient, req *storepb.SeriesRequest) (out []gotSeries, warnings []string, frames int) {
	t.Helper()
	out, warnings, frames, err := seriesNoFatal(ctx, c, req)
	if err != nil {
		t.Fatal(err)
	}
	return out, warnings, frames
}

// seriesNoFatal is series for goroutines other than the test's.
func seriesNoFatal(ctx context.Context, c storepb.StoreClient, req *storepb.SeriesRequest) (out []gotSeries, warnings []string, frames int, err error) {
	stream, err := c.Series(ctx, req)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("Series: %w", err)
	}
	add := func(s *storepb.Series) error {
		lset := labelpb.ZLabelsToPromLabels(s.Labels).Copy()
		samples, err := decodeChunks(s.Chunks)
		if err != nil {
			return err
		}
		if n := len(out); n > 0 && labels.Equal(out[n-1].labels, lset) {
			out[n-1].chunks += len(s.Chunks)
			out[n-1].samples = append(out[n-1].samples, samples...)
			return nil
		}
		out = append(out, gotSeries{labels: lset, samples: samples, chunks: len(s.Chunks)})
		return nil
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, warnings, frames, nil
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("Series recv: %w", err)
		}
		frames++
		switch {
		case resp.GetSeries() != nil:
			if err := add(resp.GetSeries()); err != nil {
				return nil, nil, 0, err
			}
		case resp.GetBatch() != nil:
			for _, s := range resp.GetBatch().Series {
				if err := add(s); err != nil {
					return nil, nil, 0, err
				}
			}
		case resp.GetWarning() != "":
			warnings = append(warnings, resp.GetWarning())
		}
	}
}

func decodeChunks(chunks []storepb.AggrChunk) ([]promtest.Sample, error) {
	var out []promtest.Sample
	for _, c := range chunks {
		if c.Raw.Type != storepb.Chunk_XOR {
			return nil, fmt.Errorf("chunk encoding %v, want XOR", c.Raw.Type)
		}
		chk, err := chunkenc.FromData(chunkenc.EncXOR, c.Raw.Data)
		if err != nil {
			return nil, err
		}
		it := chk.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			out = append(out, promtest.Sample{T: ts, V: v})
		}
		if it.Err() != nil {
			return nil, it.Err()
		}
	}
	return out, nil
}

// want returns the written series that match, with the labels a client
// should see, sorted as the Store API promises.
func want(match func(map[string]string) bool, drop []string, mint, maxt int64) []gotSeries {
	var out []gotSeries
	for i, s := range testSeries {
		if !match(s) {
			continue
		}
		b := labels.NewBuilder(labels.FromMap(s))
		for k, v := range external {
			b.Set(k, v)
		}
		for _, d := range drop {
			b.Del(d)
		}
		g := gotSeries{labels: b.Labels()}
		for j := range samples {
			if ts := base + int64(j)*step; ts >= mint && ts <= maxt {
				g.samples = append(g.samples, promtest.Sample{T: ts, V: value(i, j)})
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].labels, out[j].labels) < 0 })
	return out
}

func inRange(s []promtest.Sample, mint, maxt int64) []promtest.Sample {
	return slices.DeleteFunc(slices.Clone(s), func(x promtest.Sample) bool { return x.T < mint || x.T > maxt })
}

func eq(name, v string) storepb.LabelMatcher {
	return storepb.LabelMatcher{Type: storepb.LabelMatcher_EQ, Name: name, Value: v}
}

func TestSeries(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := base + samples*step
	mid := base + 100*step + 7
	cases := []struct {
		name     string
		req      storepb.SeriesRequest
		match    func(map[string]string) bool
		drop     []string
		min, max int64
	}{
		{
			name:  "equality",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}},
			match: func(s map[string]string) bool { return s["__name__"] == "gauge" },
		},
		{
			name: "regex",
			req: storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge"),
				{Type: storepb.LabelMatcher_RE, Name: "instance", Value: "a|c"}}},
			match: func(s map[string]string) bool { return s["__name__"] == "gauge" && s["instance"] != "b" },
		},
		{
			name: "negative",
			req: storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge"),
				{Type: storepb.LabelMatcher_NEQ, Name: "job", Value: "x"}}},
			match: func(s map[string]string) bool { return s["__name__"] == "gauge" && s["job"] != "x" },
		},
		{
			name: "negative regex",
			req: storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "prefix"),
				{Type: storepb.LabelMatcher_NRE, Name: "b", Value: "2"}}},
			match: func(s map[string]string) bool { return s["__name__"] == "prefix" && s["b"] != "2" },
		},
		{
			name:  "external label matches",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge"), eq("replica", "r1")}},
			match: func(s map[string]string) bool { return s["__name__"] == "gauge" },
		},
		{
			name:  "external label excludes this replica",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge"), eq("replica", "r2")}},
			match: func(map[string]string) bool { return false },
		},
		{
			name:  "only external label matchers",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("cluster", "eu")}},
			match: func(map[string]string) bool { return true },
		},
		{
			name:  "time range cut",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}},
			match: func(s map[string]string) bool { return s["__name__"] == "gauge" },
			min:   mid, max: mid + 30*step,
		},
		{
			name:  "prefix series stay sorted",
			req:   storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{eq("__name__", "prefix")}},
			match: func(s map[string]string) bool { return s["__name__"] == "prefix" },
		},
		{
			name: "without replica labels, batched",
			req: storepb.SeriesRequest{Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
				WithoutReplicaLabels: []string{"replica"}, ResponseBatchSize: 3},
			match: func(map[string]string) bool { return true },
			drop:  []string{"replica"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mint, maxt := base, end
			if tc.max != 0 {
				mint, maxt = tc.min, tc.max
			}
			req := tc.req
			req.MinTime, req.MaxTime = mint, maxt
			got, warnings, _ := series(ctx, t, e.client, &req)
			if len(warnings) > 0 {
				t.Fatalf("warnings: %v", warnings)
			}
			exp := want(tc.match, tc.drop, mint, maxt)
			if len(got) != len(exp) {
				t.Fatalf("got %d series %v, want %d %v", len(got), names(got), len(exp), names(exp))
			}
			for i := range exp {
				if !labels.Equal(got[i].labels, exp[i].labels) {
					t.Fatalf("series %d: labels %s, want %s (order: %v)", i, got[i].labels, exp[i].labels, names(got))
				}
				if s := inRange(got[i].samples, mint, maxt); !slices.Equal(s, exp[i].samples) {
					t.Fatalf("%s: %d samples in range, want %d; first got %v want %v", exp[i].labels, len(s), len(exp[i].samples), first(s), first(exp[i].samples))
				}
			}
		})
	}
}

func names(s []gotSeries) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].labels.String()
	}
	return out
}

func first(s []promtest.Sample) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func TestSeriesBatchingLimitAndSkipChunks(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}}
	end := base + samples*step

	plain, _, plainFrames := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: all})
	batched, _, batchedFrames := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: all, ResponseBatchSize: 64})
	if !slices.EqualFunc(names(plain), names(batched), func(a, b string) bool { return a == b }) {
		t.Fatalf("batched order %v differs from unbatched %v", names(batched), names(plain))
	}
	if batchedFrames >= plainFrames || batchedFrames != 1 {
		t.Fatalf("batched into %d frames (unbatched %d), want 1", batchedFrames, plainFrames)
	}

	limited, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: all, Limit: 2})
	if len(limited) != 2 || !labels.Equal(limited[0].labels, plain[0].labels) {
		t.Fatalf("limit 2: got %v", names(limited))
	}

	skipped, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: all, SkipChunks: true})
	if !slices.Equal(names(skipped), names(plain)) {
		t.Fatalf("skip_chunks series %v, want %v", names(skipped), names(plain))
	}
	for _, s := range skipped {
		if s.chunks != 0 {
			t.Fatalf("skip_chunks: %s has %d chunks", s.labels, s.chunks)
		}
	}
}

// promAPI reads a list answer from Prometheus's own HTTP API.
func promAPI(t *testing.T, u string) []string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

func TestLabelNamesAndValues(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := base + samples*step
	rng := url.Values{"start": {"1740787200"}, "end": {"1740794400"}}

	names, err := e.client.LabelNames(ctx, &storepb.LabelNamesRequest{Start: base, End: end})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := append(promAPI(t, e.prom.URL()+"/api/v1/labels?"+rng.Encode()), "cluster", "replica")
	sort.Strings(wantNames)
	if !slices.Equal(names.Names, wantNames) {
		t.Fatalf("label names %v, want %v", names.Names, wantNames)
	}

	for _, tc := range []struct {
		label    string
		matchers []storepb.LabelMatcher
		want     []string
	}{
		{label: "instance", want: promAPI(t, e.prom.URL()+"/api/v1/label/instance/values?"+rng.Encode())},
		{label: "instance", matchers: []storepb.LabelMatcher{eq("job", "y")}, want: []string{"c"}},
		{label: "replica", want: []string{"r1"}},
		{label: "replica", matchers: []storepb.LabelMatcher{eq("replica", "r2")}, want: nil},
		{label: "__name__", want: []string{"gauge", "prefix"}},
	} {
		got, err := e.client.LabelValues(ctx, &storepb.LabelValuesRequest{Label: tc.label, Start: base, End: end, Matchers: tc.matchers})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Values, tc.want) {
			t.Errorf("values of %s %v: %v, want %v", tc.label, tc.matchers, got.Values, tc.want)
		}
	}
	if len(promAPI(t, e.prom.URL()+"/api/v1/label/instance/values?"+rng.Encode())) != 3 {
		t.Fatal("Prometheus itself does not list the 3 instances written")
	}
}

func TestInfoAndRecovery(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	info, err := e.info.Info(ctx, &infopb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := labelpb.ZLabelSetsToPromLabelSets(info.LabelSets...); len(got) != 1 || !labels.Equal(got[0], labels.FromMap(external)) {
		t.Fatalf("label sets %v, want %v", got, external)
	}
	if info.Store == nil || info.Store.MinTime != base || info.Store.MaxTime != math.MaxInt64 || !info.Store.SupportsWithoutReplicaLabels {
		t.Fatalf("store info %+v, want min %d", info.Store, base)
	}
	if info.ComponentType != "sidecar" {
		t.Fatalf("component type %q", info.ComponentType)
	}

	e.prom.Stop()
	start := time.Now()
	wait.Until(t, 10*time.Second, "Info fails with Prometheus down", func() error {
		if _, err := e.info.Info(ctx, &infopb.InfoRequest{}); err == nil {
			return errors.New("Info still answers")
		}
		return nil
	})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	stream, err := e.client.Series(sctx, &storepb.SeriesRequest{MinTime: base, MaxTime: base + step,
		Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil || errors.Is(err, io.EOF) || sctx.Err() != nil {
		t.Fatalf("Series with Prometheus down: err %v (ctx %v), want a prompt gRPC error", err, sctx.Err())
	}
	t.Logf("Prometheus down noticed after %v", time.Since(start))

	e.prom.Start()
	wait.Until(t, 30*time.Second, "Info answers with Prometheus back", func() error {
		_, err := e.info.Info(ctx, &infopb.InfoRequest{})
		return err
	})
	got, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: base + samples*step,
		Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}})
	if len(got) != 3 {
		t.Fatalf("after restart: %d series, want 3", len(got))
	}
}

// TestSeriesBatchesStayUnderMessageLimit asks for batches of 64 long series
// of noisy values: the sidecar cuts a batch at about 1 MiB, so no message
// comes near gRPC's default 4 MiB receive limit, and every series arrives.
func TestSeriesBatchesStayUnderMessageLimit(t *testing.T) {
	const n, length = 80, 6000
	f := promtest.Family{Name: "noisy", Type: "gauge"}
	for i := range n {
		s := promtest.Series{Labels: map[string]string{"i": fmt.Sprintf("%03d", i)}}
		for j := range length {
			// Values without a pattern compress poorly in XOR chunks.
			s.Samples = append(s.Samples, promtest.Sample{T: base + int64(j)*step, V: float64((i*7919+j*104729)%1000003) / 7})
		}
		f.Series = append(f.Series, s)
	}
	e := setupWith(t, promtest.OpenMetrics(f))
	stream, err := e.client.Series(t.Context(), &storepb.SeriesRequest{MinTime: base, MaxTime: base + length*step,
		Matchers: []storepb.LabelMatcher{eq("__name__", "noisy")}, ResponseBatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var got, messages, largest int
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b := resp.GetBatch(); b != nil {
			got += len(b.Series)
			messages++
			largest = max(largest, resp.Size())
		}
	}
	t.Logf("%d series in %d batches, the largest %d bytes", got, messages, largest)
	if got != n {
		t.Errorf("%d series, want %d", got, n)
	}
	// A full batch of these series is over 2 MiB; a cut one is 1 MiB
	// plus at most one series.
	if largest > 1<<20+1<<18 {
		t.Errorf("%d batches, the largest %d bytes: want batches cut at about 1 MiB", messages, largest)
	}
}

// TestMinTime checks that --min-time is enforced, not only announced: no
// call reads data before it, and a floor relative to now is read anew for
// each call.
func TestMinTime(t *testing.T) {
	var floor atomic.Int64
	floor.Store(base + samples/2*step) // an hour in, where a chunk starts
	e := setupFloor(t, openMetrics(), func(time.Time) int64 { return floor.Load() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := base + samples*step

	got, _, _ := series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}})
	if len(got) != 3 {
		t.Fatalf("%d series, want 3", len(got))
	}
	for _, s := range got {
		if len(s.samples) != samples/2 || s.samples[0].T < floor.Load() {
			t.Errorf("%s: %d samples from %d, want %d from the floor %d", s.labels, len(s.samples), s.samples[0].T, samples/2, floor.Load())
		}
	}
	info, err := e.info.Info(ctx, &infopb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Store.MinTime != floor.Load() {
		t.Errorf("info min time %d, want the floor %d", info.Store.MinTime, floor.Load())
	}

	// The clock moves past all the data.
	floor.Store(end + step)
	got, _, _ = series(ctx, t, e.client, &storepb.SeriesRequest{MinTime: base, MaxTime: end, Matchers: []storepb.LabelMatcher{eq("__name__", "gauge")}})
	names, err := e.client.LabelNames(ctx, &storepb.LabelNamesRequest{Start: base, End: end})
	if err != nil {
		t.Fatal(err)
	}
	values, err := e.client.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "instance", Start: base, End: end})
	if err != nil {
		t.Fatal(err)
	}
	replica, err := e.client.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "replica", Start: base, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || len(names.Names) != 0 || len(values.Values) != 0 || len(replica.Values) != 0 {
		t.Errorf("after the floor passed the data: %d series, names %v, instances %v, replicas %v; want none", len(got), names.Names, values.Values, replica.Values)
	}
}
