package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// collected is one series of a proxy answer with its chunks decoded.
type collected struct {
	lset    string
	samples []storetest.Sample
}

func collect(t *testing.T, set *store.SeriesSet) []collected {
	t.Helper()
	var out []collected
	for set.Next() {
		lset, copies := set.At()
		for _, chunks := range copies {
			c := collected{lset: lset.String()}
			for _, ch := range chunks {
				chk, err := store.DecodeChunk(ch.Raw)
				if err != nil {
					t.Fatalf("decode chunk of %s: %v", lset, err)
				}
				it := chk.Iterator(nil)
				for it.Next() == chunkenc.ValFloat {
					ts, v := it.At()
					c.samples = append(c.samples, storetest.Sample{T: ts, V: v})
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func names(cs []collected) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.lset)
	}
	return out
}

func seriesRequest(t *testing.T, mint, maxt int64, ms ...*labels.Matcher) *storepb.SeriesRequest {
	t.Helper()
	pbms, err := storepb.PromMatchersToMatchers(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return &storepb.SeriesRequest{MinTime: mint, MaxTime: maxt, Matchers: pbms}
}

func clients(cs ...store.Client) func() []store.Client {
	return func() []store.Client { return cs }
}

// serve runs a gRPC server with what register registers on a loopback port
// until the test ends, and returns its address.
func serve(tb testing.TB, register func(*grpc.Server)) string {
	tb.Helper()
	return storetest.Listen(tb, register)
}

// serveProxy serves a ProxyServer's Store and Info APIs, see serve.
func serveProxy(tb testing.TB, server *store.ProxyServer) string {
	return serve(tb, func(g *grpc.Server) {
		storepb.RegisterStoreServer(g, server)
		infopb.RegisterInfoServer(g, server)
	})
}

var metricUp = labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, "up")

func TestProxySeriesMergesSortedStreams(t *testing.T) {
	// Three stores, interleaved label sets: the merge must be sorted and
	// carry every sample.
	var stores []store.Client
	for i, jobs := range [][]string{{"a", "d"}, {"b", "e"}, {"c", "f"}} {
		var series []storetest.Series
		for _, job := range jobs {
			series = append(series, storetest.Series{
				Labels:  labels.FromStrings("__name__", "up", "job", job),
				Samples: storetest.Ramp(0, 15_000, 500),
			})
		}
		db := storetest.OpenTSDB(t, series...)
		srv := storetest.Start(t, db, storetest.Options{
			ExternalLabels: labels.FromStrings("store", string(rune('0'+i))),
			FramePerChunk:  i == 1, // one store splits its series across frames
		})
		stores = append(stores, srv.Client(t))
	}
	p := store.NewProxy(clients(stores...), store.ProxyOptions{})
	set := p.Series(context.Background(), seriesRequest(t, 0, 10_000_000, metricUp), store.SeriesOptions{})
	defer set.Close()
	got := collect(t, set)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{__name__="up", job="a", store="0"}`,
		`{__name__="up", job="b", store="1"}`,
		`{__name__="up", job="c", store="2"}`,
		`{__name__="up", job="d", store="0"}`,
		`{__name__="up", job="e", store="1"}`,
		`{__name__="up", job="f", store="2"}`,
	}
	if !slices.Equal(names(got), want) {
		t.Fatalf("series:\n got %q\nwant %q", names(got), want)
	}
	for _, c := range got {
		if !slices.Equal(c.samples, storetest.Ramp(0, 15_000, 500)) {
			t.Errorf("%s: %d samples, want the 500 loaded", c.lset, len(c.samples))
		}
	}
}

func TestProxyReplicaLabels(t *testing.T) {
	// Two replicas with the same two series. With dedup the replica label
	// goes (by the store or the proxy) and equal series come out adjacent,
	// one per store; without, they keep it.
	series := []storetest.Series{
		{Labels: labels.FromStrings("__name__", "up", "job", "a"), Samples: storetest.Ramp(0, 15_000, 10)},
		{Labels: labels.FromStrings("__name__", "up", "job", "b"), Samples: storetest.Ramp(0, 15_000, 10)},
	}
	for _, tc := range []struct {
		name          string
		storeStrips   bool
		replicaLabels []string
		want          []string
	}{
		{
			name: "dedup off", storeStrips: true,
			want: []string{
				`{__name__="up", job="a", replica="r0"}`, `{__name__="up", job="a", replica="r1"}`,
				`{__name__="up", job="b", replica="r0"}`, `{__name__="up", job="b", replica="r1"}`,
			},
		},
		{
			name: "dedup, stores strip", storeStrips: true, replicaLabels: []string{"replica"},
			want: []string{`{__name__="up", job="a"}`, `{__name__="up", job="a"}`, `{__name__="up", job="b"}`, `{__name__="up", job="b"}`},
		},
		{
			name: "dedup, proxy strips", storeStrips: false, replicaLabels: []string{"replica"},
			want: []string{`{__name__="up", job="a"}`, `{__name__="up", job="a"}`, `{__name__="up", job="b"}`, `{__name__="up", job="b"}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stores []store.Client
			for i, r := range []string{"r0", "r1"} {
				// Separate TSDBs: identical bytes are only dropped for
				// identical chunks, so shift one replica's samples.
				shifted := slices.Clone(series)
				for j := range shifted {
					shifted[j].Samples = storetest.Ramp(int64(i)*1000, 15_000, 10)
				}
				srv := storetest.Start(t, storetest.OpenTSDB(t, shifted...), storetest.Options{
					ExternalLabels:       labels.FromStrings("replica", r),
					WithoutReplicaLabels: tc.storeStrips,
				})
				stores = append(stores, srv.Client(t))
			}
			p := store.NewProxy(clients(stores...), store.ProxyOptions{})
			req := seriesRequest(t, 0, 1_000_000, metricUp)
			req.WithoutReplicaLabels = tc.replicaLabels
			set := p.Series(context.Background(), req, store.SeriesOptions{})
			defer set.Close()
			got := names(collect(t, set))
			if err := set.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("series:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestProxyDropsIdenticalChunks(t *testing.T) {
	// Two stores serving the same TSDB under the same labels (overlapping
	// sources): the second copy adds nothing and disappears.
	db := storetest.OpenTSDB(t, storetest.Series{
		Labels: labels.FromStrings("__name__", "up"), Samples: storetest.Ramp(0, 15_000, 300),
	})
	opts := storetest.Options{ExternalLabels: labels.FromStrings("cluster", "eu")}
	a, b := storetest.Start(t, db, opts), storetest.Start(t, db, opts)
	p := store.NewProxy(clients(a.Client(t), b.Client(t)), store.ProxyOptions{})
	set := p.Series(context.Background(), seriesRequest(t, 0, 10_000_000, metricUp), store.SeriesOptions{})
	defer set.Close()
	got := collect(t, set)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].samples) != 300 {
		t.Fatalf("got %d series (%v), want one with 300 samples", len(got), names(got))
	}
}

func TestProxySelectsStores(t *testing.T) {
	db := storetest.OpenTSDB(t, storetest.Series{
		Labels: labels.FromStrings("__name__", "up"), Samples: storetest.Ramp(0, 15_000, 10),
	})
	var calls [3]atomic.Int32
	optsFor := func(i int, cluster string, mint, maxt int64) storetest.Options {
		return storetest.Options{
			ExternalLabels: labels.FromStrings("cluster", cluster),
			MinTime:        mint, MaxTime: maxt,
			BeforeSeries: func(context.Context, *storepb.SeriesRequest) error {
				calls[i].Add(1)
				return nil
			},
		}
	}
	servers := []*storetest.Server{
		storetest.Start(t, db, optsFor(0, "eu", 0, 1000)),
		storetest.Start(t, db, optsFor(1, "us", 0, 1000)),
		storetest.Start(t, db, optsFor(2, "eu", 5000, 9000)),
	}
	var cs []store.Client
	for _, s := range servers {
		cs = append(cs, s.Client(t))
	}
	p := store.NewProxy(clients(cs...), store.ProxyOptions{})

	for _, tc := range []struct {
		name          string
		mint, maxt    int64
		matchers      []*labels.Matcher
		storeMatchers [][]*labels.Matcher
		want          [3]int32
	}{
		{name: "all overlapping", mint: 0, maxt: 10_000, want: [3]int32{1, 1, 1}},
		{name: "time range", mint: 2000, maxt: 4000, want: [3]int32{0, 0, 0}},
		{name: "time range end", mint: 6000, maxt: 7000, want: [3]int32{0, 0, 1}},
		{
			name: "external labels", mint: 0, maxt: 10_000,
			matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "cluster", "eu")},
			want:     [3]int32{1, 0, 1},
		},
		{
			name: "label not external", mint: 0, maxt: 10_000,
			matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "x")},
			want:     [3]int32{1, 1, 1},
		},
		{
			name: "storeMatch address", mint: 0, maxt: 10_000,
			storeMatchers: [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchEqual, "__address__", servers[1].Addr())}},
			want:          [3]int32{0, 1, 0},
		},
		{
			name: "storeMatch external label, either selector", mint: 0, maxt: 10_000,
			storeMatchers: [][]*labels.Matcher{
				{labels.MustNewMatcher(labels.MatchEqual, "cluster", "us")},
				{labels.MustNewMatcher(labels.MatchEqual, "__address__", servers[2].Addr())},
			},
			want: [3]int32{0, 1, 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range calls {
				calls[i].Store(0)
			}
			set := p.Series(context.Background(), seriesRequest(t, tc.mint, tc.maxt, append(tc.matchers, metricUp)...), store.SeriesOptions{StoreMatchers: tc.storeMatchers})
			for set.Next() {
			}
			set.Close()
			if err := set.Err(); err != nil {
				t.Fatal(err)
			}
			got := [3]int32{calls[0].Load(), calls[1].Load(), calls[2].Load()}
			if got != tc.want {
				t.Fatalf("Series calls per store: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProxyFailingStore(t *testing.T) {
	db := storetest.OpenTSDB(t, storetest.Series{
		Labels: labels.FromStrings("__name__", "up"), Samples: storetest.Ramp(0, 15_000, 10),
	})
	live := storetest.Start(t, db, storetest.Options{ExternalLabels: labels.FromStrings("replica", "a")})
	deadOpts := storetest.Options{ExternalLabels: labels.FromStrings("replica", "b")}
	dead := storetest.Start(t, db, deadOpts)
	dead.Stop()
	warned := storetest.Start(t, db, storetest.Options{ExternalLabels: labels.FromStrings("replica", "c"), Warning: "disk on fire"})
	p := store.NewProxy(clients(live.Client(t), storetest.Dial(t, dead.Addr(), deadOpts), warned.Client(t)), store.ProxyOptions{})

	t.Run("partial response", func(t *testing.T) {
		set := p.Series(context.Background(), seriesRequest(t, 0, 1_000_000, metricUp), store.SeriesOptions{})
		defer set.Close()
		got := collect(t, set)
		if err := set.Err(); err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if len(got) != 2 {
			t.Fatalf("got %v, want the live and the warning store's series", names(got))
		}
		warnings := set.Warnings()
		if !containsError(warnings, dead.Addr()) || !containsError(warnings, "disk on fire") {
			t.Fatalf("warnings %v do not name the dead store %s and the store warning", warnings, dead.Addr())
		}
	})
	t.Run("strict", func(t *testing.T) {
		req := seriesRequest(t, 0, 1_000_000, metricUp)
		req.PartialResponseDisabled = true
		set := p.Series(context.Background(), req, store.SeriesOptions{})
		defer set.Close()
		collect(t, set)
		if err := set.Err(); err == nil || (!strings.Contains(err.Error(), dead.Addr()) && !strings.Contains(err.Error(), "disk on fire")) {
			t.Fatalf("got error %v, want one naming a failed store", err)
		}
	})
}

func containsError(errs []error, s string) bool {
	return slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), s) })
}

// blockingStore starts a store whose Series calls signal started, then wait
// for their context to end, recording the reason on sawCancel.
func blockingStore(t *testing.T) (srv *storetest.Server, started chan struct{}, sawCancel chan error) {
	db := storetest.OpenTSDB(t)
	started = make(chan struct{}, 1)
	sawCancel = make(chan error, 1)
	srv = storetest.Start(t, db, storetest.Options{
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			started <- struct{}{}
			<-ctx.Done()
			sawCancel <- ctx.Err()
			return ctx.Err()
		},
	})
	return srv, started, sawCancel
}

func TestProxyResponseTimeout(t *testing.T) {
	srv, _, sawCancel := blockingStore(t)
	p := store.NewProxy(clients(srv.Client(t)), store.ProxyOptions{ResponseTimeout: 200 * time.Millisecond})

	set := p.Series(context.Background(), seriesRequest(t, 0, 1000, metricUp), store.SeriesOptions{})
	defer set.Close()
	collect(t, set)
	if err := set.Err(); err != nil {
		t.Fatalf("a silent store with partial response must be a warning, got error %v", err)
	}
	if !containsError(set.Warnings(), "no answer within 200ms") || !containsError(set.Warnings(), srv.Addr()) {
		t.Fatalf("warnings %v do not name the silent store and the timeout", set.Warnings())
	}
	if err := wait.Receive(t, sawCancel, "the store to see its call cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("store saw %v, want context.Canceled", err)
	}
}

func TestProxyRequestCancelEndsStoreCalls(t *testing.T) {
	srv, started, sawCancel := blockingStore(t)
	p := store.NewProxy(clients(srv.Client(t)), store.ProxyOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	set := p.Series(ctx, seriesRequest(t, 0, 1000, metricUp), store.SeriesOptions{})
	defer set.Close()
	done := make(chan error, 1)
	go func() {
		for set.Next() {
		}
		done <- set.Err()
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the store never got the call")
	}
	cancel()
	if err := wait.Receive(t, done, "the series set to end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("series set ended with %v, want context.Canceled", err)
	}
	if err := wait.Receive(t, sawCancel, "the store to see its call cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("store saw %v, want context.Canceled", err)
	}
}

func TestProxyLabels(t *testing.T) {
	mk := func(replica string, jobs ...string) *storetest.Server {
		var series []storetest.Series
		for _, j := range jobs {
			series = append(series, storetest.Series{
				Labels: labels.FromStrings("__name__", "up", "job", j, "only_"+replica, "x"), Samples: storetest.Ramp(0, 15_000, 3),
			})
		}
		return storetest.Start(t, storetest.OpenTSDB(t, series...), storetest.Options{
			ExternalLabels: labels.FromStrings("replica", replica),
		})
	}
	a, b := mk("a", "j1", "j2"), mk("b", "j2", "j3")
	deadOpts := storetest.Options{ExternalLabels: labels.FromStrings("replica", "c")}
	dead := mk("c")
	dead.Stop()
	p := store.NewProxy(clients(a.Client(t), b.Client(t), storetest.Dial(t, dead.Addr(), deadOpts)), store.ProxyOptions{})
	ctx := context.Background()

	values, warns, err := p.LabelValues(ctx, &storepb.LabelValuesRequest{Label: "job", Start: 0, End: 100_000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"j1", "j2", "j3"}; !slices.Equal(values, want) {
		t.Errorf("values: got %q, want %q", values, want)
	}
	if !containsError(warns, dead.Addr()) {
		t.Errorf("warnings %v do not name the dead store", warns)
	}

	names, _, err := p.LabelNames(ctx, &storepb.LabelNamesRequest{Start: 0, End: 100_000, WithoutReplicaLabels: []string{"replica"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"__name__", "job", "only_a", "only_b"}; !slices.Equal(names, want) {
		t.Errorf("names: got %q, want %q", names, want)
	}

	_, _, err = p.LabelNames(ctx, &storepb.LabelNamesRequest{Start: 0, End: 100_000, PartialResponseDisabled: true}, nil)
	if err == nil || !strings.Contains(err.Error(), dead.Addr()) {
		t.Errorf("strict label names: got error %v, want one naming %s", err, dead.Addr())
	}
}
