package query_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// framesClient counts the frames its store's Series calls with chunks
// have delivered to the proxy.
type framesClient struct {
	store.Client
	frames *atomic.Int64
}

func (c framesClient) Series(ctx context.Context, req *storepb.SeriesRequest, opts ...grpc.CallOption) (storepb.Store_SeriesClient, error) {
	cl, err := c.Client.Series(ctx, req, opts...)
	if err != nil || req.SkipChunks {
		return cl, err
	}
	return framesStream{cl, c.frames}, nil
}

type framesStream struct {
	storepb.Store_SeriesClient
	frames *atomic.Int64
}

func (s framesStream) Recv() (*storepb.SeriesResponse, error) {
	r, err := s.Store_SeriesClient.Recv()
	if err == nil {
		s.frames.Add(1)
	}
	return r, err
}

// twoPhaseStores is manyStores' first HA pair, each store counting the
// frames with chunks it delivered, and a Queryable over them whose
// selections are all two-phase.
func twoPhaseStores(t *testing.T, series int) (*query.Queryable, []*atomic.Int64, storage.Queryable) {
	clients, _, flat := manyStores(t, 1, series, 0)
	var frames []*atomic.Int64
	for i, c := range clients {
		n := new(atomic.Int64)
		clients[i], frames = framesClient{c, n}, append(frames, n)
	}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	q := query.NewQueryable(proxy, query.Options{
		Dedup: true, ReplicaLabels: []string{"replica"},
		TwoPhaseSpan: time.Millisecond, LateWarnings: &query.Warnings{},
	})
	return q, frames, flat
}

func samplesOf(t *testing.T, it chunkenc.Iterator) []float64 {
	t.Helper()
	var out []float64
	for it.Next() == chunkenc.ValFloat {
		_, v := it.At()
		out = append(out, v)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func selectAll(t *testing.T, q storage.Queryable) ([]storage.Series, func()) {
	t.Helper()
	querier, err := q.Querier(0, 480*15_000)
	if err != nil {
		t.Fatal(err)
	}
	set := querier.Select(context.Background(), true, &storage.SelectHints{Start: 0, End: 480 * 15_000},
		labels.MustNewMatcher(labels.MatchEqual, "__name__", "many_total"))
	var all []storage.Series
	for set.Next() {
		all = append(all, set.At())
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return all, func() { _ = querier.Close() }
}

// TestTwoPhaseSelectionReadsAsPromQLAsks expands a two-phase selection, as
// Prometheus's engine does before it evaluates: its samples have not been
// read then, beyond what the proxy prefetches. Each series then reads
// whole and equal to the flat data, while the frames of the store that
// strips the replica label itself are read only a little ahead of it. (The
// proxy reads the other's whole answer, to sort it once stripped.)
func TestTwoPhaseSelectionReadsAsPromQLAsks(t *testing.T) {
	const series, perFrame, prefetch = 1200, 64, 4
	q, frames, flat := twoPhaseStores(t, series)
	all, done := selectAll(t, q)
	defer done()
	if len(all) != series {
		t.Fatalf("%d series, want %d", len(all), series)
	}
	total := (series + perFrame - 1) / perFrame
	// The proxy holds prefetch frames of each store, and its reader one.
	ahead := int64(prefetch + 2)
	frames = frames[:1]
	for i, n := range frames {
		if got := n.Load(); got > ahead {
			t.Errorf("store %d delivered %d of its %d frames before any series was read, want at most %d", i, got, total, ahead)
		}
	}

	want, wantDone := selectAll(t, flat)
	defer wantDone()
	for i, s := range all {
		if !labels.Equal(s.Labels(), want[i].Labels()) {
			t.Fatalf("series %d is %s, want %s", i, s.Labels(), want[i].Labels())
		}
		got, exp := samplesOf(t, s.Iterator(nil)), samplesOf(t, want[i].Iterator(nil))
		if !slices.Equal(got, exp) || len(got) == 0 {
			t.Fatalf("series %s: %d samples, want %d equal to the flat data's", s.Labels(), len(got), len(exp))
		}
		// Read ahead by at most 16 series, a frame more for where they end.
		bound := int64((i+1+16)/perFrame) + ahead + 1
		for j, n := range frames {
			if got := n.Load(); got > bound {
				t.Fatalf("after %d series store %d delivered %d frames, want at most %d", i+1, j, got, bound)
			}
		}
	}
}

// TestTwoPhaseSeriesReadAgain reads the series of a two-phase selection
// out of order, and some twice: one passed on the way to a later one is
// kept for its turn, and one read before is read again, alone.
func TestTwoPhaseSeriesReadAgain(t *testing.T) {
	q, _, flat := twoPhaseStores(t, 100)
	all, done := selectAll(t, q)
	defer done()
	want, wantDone := selectAll(t, flat)
	defer wantDone()
	for _, i := range []int{10, 3, 10, 3, 99, 0, 50, 99} {
		got, exp := samplesOf(t, all[i].Iterator(nil)), samplesOf(t, want[i].Iterator(nil))
		if !slices.Equal(got, exp) || len(got) == 0 {
			t.Errorf("series %d (%s): %d samples, want %d equal to the flat data's", i, all[i].Labels(), len(got), len(exp))
		}
	}
}

// splitClient answers Series calls without chunks from one store and those
// with chunks from another: the two calls of a two-phase selection then
// see different series, as when series begin or end between them.
type splitClient struct {
	store.Client // with chunks
	labels       store.Client
}

func (c splitClient) Series(ctx context.Context, req *storepb.SeriesRequest, opts ...grpc.CallOption) (storepb.Store_SeriesClient, error) {
	if req.SkipChunks {
		return c.labels.Series(ctx, req, opts...)
	}
	return c.Client.Series(ctx, req, opts...)
}

// TestTwoPhaseSeriesDifferBetweenCalls gives the first call of a two-phase
// selection series the second lacks, and the reverse: PromQL sees the first
// call's series, those the second lacks without samples, and every other
// with the second call's samples.
func TestTwoPhaseSeriesDifferBetweenCalls(t *testing.T) {
	series := func(names ...string) []storetest.Series {
		var out []storetest.Series
		for i, n := range names {
			out = append(out, storetest.Series{Labels: labels.FromStrings("__name__", "many_total", "i", n), Samples: storetest.Ramp(0, 15_000, 10+i)})
		}
		return out
	}
	// The first call knows b, c, e and g; the second a, c, d, e and f.
	first := storetest.Start(t, storetest.OpenTSDB(t, series("b", "c", "e", "g")...), storetest.Options{})
	second := storetest.Start(t, storetest.OpenTSDB(t, series("a", "c", "d", "e", "f")...), storetest.Options{})
	client := splitClient{Client: second.Client(t), labels: first.Client(t)}
	proxy := store.NewProxy(func() []store.Client { return []store.Client{client} }, store.ProxyOptions{})
	q := query.NewQueryable(proxy, query.Options{TwoPhaseSpan: time.Millisecond, LateWarnings: &query.Warnings{}})
	all, done := selectAll(t, q)
	defer done()
	want := map[string]int{"b": 0, "c": 11, "e": 13, "g": 0} // samples: c and e as the second call has them
	var got []string
	for _, s := range all {
		name := s.Labels().Get("i")
		got = append(got, name)
		if n := len(samplesOf(t, s.Iterator(nil))); n != want[name] {
			t.Errorf("series %s: %d samples, want %d", name, n, want[name])
		}
	}
	if !slices.Equal(got, []string{"b", "c", "e", "g"}) {
		t.Errorf("series %v, want the first call's b, c, e, g", got)
	}
}

// stallingClient delivers the first frames of its store's Series calls with
// chunks, then nothing until the call ends.
type stallingClient struct {
	store.Client
	frames int
}

func (c stallingClient) Series(ctx context.Context, req *storepb.SeriesRequest, opts ...grpc.CallOption) (storepb.Store_SeriesClient, error) {
	cl, err := c.Client.Series(ctx, req, opts...)
	if err != nil || req.SkipChunks {
		return cl, err
	}
	return &stallingStream{Store_SeriesClient: cl, ctx: ctx, left: c.frames}, nil
}

type stallingStream struct {
	storepb.Store_SeriesClient
	ctx  context.Context
	left int
}

func (s *stallingStream) Recv() (*storepb.SeriesResponse, error) {
	if s.left == 0 {
		<-s.ctx.Done()
		return nil, s.ctx.Err()
	}
	s.left--
	return s.Store_SeriesClient.Recv()
}

// TestTwoPhaseCloseWhileAStoreIsSilent ends a query whose read-ahead waits
// for a store gone silent in the second call, as when PromQL fails before
// it has read every series: Close returns at once, not when the request's
// context ends. (The goroutines' stacks tell when read-ahead waits: nothing
// else shows it.)
func TestTwoPhaseCloseWhileAStoreIsSilent(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("nothing is read ahead on one CPU")
	}
	clients, _, _ := manyStores(t, 1, 300, 0)
	clients = []store.Client{stallingClient{Client: clients[0], frames: 1}}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	q := query.NewQueryable(proxy, query.Options{
		Dedup: true, ReplicaLabels: []string{"replica"}, PartialResponse: true,
		TwoPhaseSpan: time.Millisecond, LateWarnings: &query.Warnings{},
	})
	all, done := selectAll(t, q)
	if len(all) != 300 {
		t.Fatalf("%d series, want 300", len(all))
	}
	// The first frame holds 64 series: reading ahead of the 60th waits for
	// the second frame.
	for _, s := range all[:60] {
		samplesOf(t, s.Iterator(nil))
	}
	// Read-ahead has gone past the first frame once a goroutine waits in
	// the second call's merge for the next.
	wait.Until(t, 10*time.Second, "read-ahead to wait for the silent store", func() error {
		buf := make([]byte, 1<<20)
		if stacks := string(buf[:runtime.Stack(buf, true)]); !strings.Contains(stacks, "query.(*cursor).take") {
			return errors.New("no goroutine waits for the second call")
		}
		return nil
	})
	closed := make(chan struct{})
	go func() {
		done()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for the silent store after 10 s")
	}
}
