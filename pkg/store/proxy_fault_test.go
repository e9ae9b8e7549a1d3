package store_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// scriptedStore answers every Series call with the same frames, however
// wrong they are.
type scriptedStore struct {
	storepb.UnimplementedStoreServer
	frames []*storepb.SeriesResponse
}

func (s *scriptedStore) Series(_ *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	for _, f := range s.frames {
		if err := srv.Send(f); err != nil {
			return err
		}
	}
	return nil
}

// startScripted serves frames on a loopback port and returns its address.
func startScripted(t *testing.T, frames ...*storepb.SeriesResponse) string {
	return serve(t, func(g *grpc.Server) { storepb.RegisterStoreServer(g, &scriptedStore{frames: frames}) })
}

// faultSeries is a series of the faulty store with the given chunks.
func faultSeries(job string, chunks ...storepb.AggrChunk) *storepb.Series {
	return &storepb.Series{
		Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings("__name__", "up", "job", job, "store", "bad")),
		Chunks: chunks,
	}
}

// xorChunk encodes n samples from t0, 15 s apart.
func xorChunk(t *testing.T, t0 int64, n int) storepb.AggrChunk {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		app.Append(t0+int64(i)*15_000, float64(i))
	}
	return storepb.AggrChunk{MinTime: t0, MaxTime: t0 + int64(n-1)*15_000, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: c.Bytes()}}
}

// rawChunk is a chunk of 2025-03-01 00:00 to 00:02:30 holding data.
func rawChunk(typ storepb.Chunk_Encoding, data []byte) storepb.AggrChunk {
	const t0 = 1_740_787_200_000
	return storepb.AggrChunk{MinTime: t0, MaxTime: t0 + 150_000, Raw: &storepb.Chunk{Type: typ, Data: data}}
}

// hugeHistogramLayout is a histogram chunk of one sample whose layout has
// one positive span of 2^32-1 buckets, padded to 144 bytes.
var hugeHistogramLayout = append([]byte{
	0x00, 0x01, 0x00, // one sample, no flags
	0x00, // zero threshold 0; then in varbit schema 0, one span, its length, its offset 0, no negative spans
	0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0x80,
}, make([]byte, 144-23)...)

// TestProxyFaultyStore puts a store that breaks the Store API next to a good
// one: the broken store is named in a warning (an error with partial
// response disabled), nothing panics, and the good store's data is whole.
func TestProxyFaultyStore(t *testing.T) {
	good := storetest.Start(t, storetest.OpenTSDB(t,
		storetest.Series{Labels: labels.FromStrings("__name__", "up", "job", "a"), Samples: storetest.Ramp(0, 15_000, 20)},
		storetest.Series{Labels: labels.FromStrings("__name__", "up", "job", "z"), Samples: storetest.Ramp(0, 15_000, 20)},
	), storetest.Options{ExternalLabels: labels.FromStrings("store", "good")})
	wantGood := []string{`{__name__="up", job="a", store="good"}`, `{__name__="up", job="z", store="good"}`}

	valid := xorChunk(t, 0, 10)
	for _, tc := range []struct {
		name   string
		frames []*storepb.SeriesResponse
		want   string // in the warning
	}{
		{
			name: "unsorted series",
			frames: []*storepb.SeriesResponse{storepb.NewBatchResponse([]*storepb.Series{
				faultSeries("m", valid), faultSeries("c", valid),
			})},
			want: "series out of order",
		},
		{
			name: "series repeated after another",
			frames: []*storepb.SeriesResponse{
				storepb.NewSeriesResponse(faultSeries("c", valid)),
				storepb.NewSeriesResponse(faultSeries("m", valid)),
				storepb.NewSeriesResponse(faultSeries("c", valid)),
			},
			want: "series out of order",
		},
		{
			name:   "garbage bytes as an XOR chunk",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_XOR, []byte("\x00\x05these bytes are no chunk at all"))))},
			want:   "outside the chunk's time range",
		},
		{
			name:   "XOR chunk cut short",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_XOR, valid.Raw.Data[:4])))},
			want:   "first sample",
		},
		{
			name:   "chunk shorter than its header",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_XOR, []byte{1})))},
			want:   "shorter than its header",
		},
		{
			name:   "histogram chunk shorter than its header",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_HISTOGRAM, []byte{0, 0})))},
			want:   "shorter than its header",
		},
		{
			// Decoded as it claims, it would take some 550 GB.
			name:   "histogram chunk of 144 bytes claiming 2^32-1 buckets",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_HISTOGRAM, hugeHistogramLayout)))},
			want:   "more than the limit",
		},
		{
			name:   "float histogram chunk claiming 2^32-1 buckets",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_FLOAT_HISTOGRAM, hugeHistogramLayout)))},
			want:   "more than the limit",
		},
		{
			name:   "unknown chunk encoding",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_Encoding(42), valid.Raw.Data)))},
			want:   "unknown chunk type",
		},
		{
			name:   "chunk without raw data",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", storepb.AggrChunk{MinTime: 0, MaxTime: 150_000}))},
			want:   "without raw data",
		},
		{
			// Past gRPC's default 4 MiB receive limit.
			name:   "oversized frame",
			frames: []*storepb.SeriesResponse{storepb.NewSeriesResponse(faultSeries("c", rawChunk(storepb.Chunk_XOR, make([]byte, 5<<20))))},
			want:   "larger than max",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := startScripted(t, tc.frames...)
			p := store.NewProxy(clients(good.Client(t), storetest.Dial(t, bad, storetest.Options{})), store.ProxyOptions{})

			set := p.Series(context.Background(), seriesRequest(t, 0, 1_000_000, metricUp), store.SeriesOptions{})
			got := collect(t, set)
			set.Close()
			if err := set.Err(); err != nil {
				t.Fatalf("partial response: error %v, want a warning", err)
			}
			var fromGood []string
			for _, c := range got {
				if strings.Contains(c.lset, `store="good"`) {
					fromGood = append(fromGood, c.lset)
					if len(c.samples) != 20 {
						t.Errorf("%s: %d samples, want 20", c.lset, len(c.samples))
					}
				}
			}
			if !slices.Equal(fromGood, wantGood) {
				t.Errorf("good store's series %q, want %q", fromGood, wantGood)
			}
			if !containsError(set.Warnings(), bad) || !containsError(set.Warnings(), tc.want) {
				t.Fatalf("warnings %v, want one naming %s and saying %q", set.Warnings(), bad, tc.want)
			}
			t.Logf("warning: %v", set.Warnings())

			req := seriesRequest(t, 0, 1_000_000, metricUp)
			req.PartialResponseDisabled = true
			set = p.Series(context.Background(), req, store.SeriesOptions{})
			for set.Next() {
			}
			set.Close()
			if err := set.Err(); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("partial response disabled: error %v, want one naming %s and saying %q", err, bad, tc.want)
			}
		})
	}
}

// TestProxySilentStoreLeavesNothingBehind asks a good store and one that
// accepts every Series call and never answers, many times at once, with a
// response timeout: every call returns in about that timeout with the good
// store's data, and once the sets are closed no goroutine is left, neither
// in the proxy nor in the store, whose calls must have been cancelled.
func TestProxySilentStoreLeavesNothingBehind(t *testing.T) {
	const (
		timeout = 300 * time.Millisecond
		calls   = 20
	)
	good := storetest.Start(t, storetest.OpenTSDB(t,
		storetest.Series{Labels: labels.FromStrings("__name__", "up", "job", "a"), Samples: storetest.Ramp(0, 15_000, 20)},
	), storetest.Options{ExternalLabels: labels.FromStrings("store", "good")})
	silent := storetest.Start(t, storetest.OpenTSDB(t), storetest.Options{
		ExternalLabels: labels.FromStrings("store", "silent"),
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			<-ctx.Done()
			return ctx.Err()
		},
	})
	p := store.NewProxy(clients(good.Client(t), silent.Client(t)), store.ProxyOptions{ResponseTimeout: timeout})

	query := func(t *testing.T, strict bool) (took time.Duration, series int, warnings []error, err error) {
		req := seriesRequest(t, 0, 1_000_000, metricUp)
		req.PartialResponseDisabled = strict
		start := time.Now()
		set := p.Series(context.Background(), req, store.SeriesOptions{})
		for set.Next() {
			series++
		}
		took = time.Since(start)
		set.Close()
		return took, series, set.Warnings(), set.Err()
	}
	// The first round opens the connections, whose goroutines stay.
	query(t, false)
	before := runtime.NumGoroutine()

	var wg sync.WaitGroup
	for i := range calls {
		strict := i%2 == 1
		wg.Go(func() {
			took, series, warnings, err := query(t, strict)
			if took > timeout+2*time.Second {
				t.Errorf("call took %v with a %v response timeout", took, timeout)
			}
			switch {
			case strict && (!errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), silent.Addr()) || !strings.Contains(err.Error(), "no answer within")):
				t.Errorf("partial response disabled: error %v, want the response timeout of %s, a deadline exceeded", err, silent.Addr())
			case !strict && (err != nil || series != 1 || !containsError(warnings, silent.Addr())):
				t.Errorf("partial response: %d series, warnings %v, error %v; want the good series and a warning naming %s", series, warnings, err, silent.Addr())
			}
		})
	}
	wg.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			t.Logf("goroutines: %d before, %d after %d calls", before, n, calls)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, still %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling, not synchronisation
	}
}
