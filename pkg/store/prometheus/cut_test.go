package prometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// sampleAt is the i-th sample of a chunk built by encodeChunk.
type sampleAt struct {
	t  int64
	v  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// testSamples are n samples 15 s apart from t0 of a chunk of type typ.
func testSamples(typ prompb.Chunk_Encoding, n int, t0 int64) []sampleAt {
	out := make([]sampleAt, n)
	for i := range out {
		out[i].t = t0 + int64(i)*15_000
		switch typ {
		case prompb.Chunk_XOR:
			out[i].v = float64(i*i) / 3
		case prompb.Chunk_HISTOGRAM:
			out[i].h = tsdbutil.GenerateTestHistogram(int64(i))
		case prompb.Chunk_FLOAT_HISTOGRAM:
			out[i].fh = tsdbutil.GenerateTestFloatHistogram(int64(i))
		}
	}
	return out
}

// encodings are the chunkenc encodings of remote read's chunk types.
var encodings = map[prompb.Chunk_Encoding]chunkenc.Encoding{prompb.Chunk_XOR: chunkenc.EncXOR, prompb.Chunk_HISTOGRAM: chunkenc.EncHistogram, prompb.Chunk_FLOAT_HISTOGRAM: chunkenc.EncFloatHistogram}

// encodeChunk appends samples to a new chunk of type typ one by one, as
// Prometheus re-encodes the samples it keeps of a chunk it cuts.
func encodeChunk(t testing.TB, typ prompb.Chunk_Encoding, samples []sampleAt) prompb.Chunk {
	t.Helper()
	c, err := chunkenc.NewEmptyChunk(encodings[typ])
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.Appender()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		switch {
		case s.h != nil:
			_, _, app, err = app.AppendHistogram(nil, s.t, s.h, true)
		case s.fh != nil:
			_, _, app, err = app.AppendFloatHistogram(nil, s.t, s.fh, true)
		default:
			app.Append(s.t, s.v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return prompb.Chunk{MinTimeMs: samples[0].t, MaxTimeMs: samples[len(samples)-1].t, Type: typ, Data: c.Bytes()}
}

// TestCutterCutsAsPrometheus checks that a chunk cut by the sidecar is the
// chunk Prometheus would have sent had it cut it: the samples in the
// read's range, in the same bytes, with their first and last times.
func TestCutterCutsAsPrometheus(t *testing.T) {
	const (
		t0   = 1_700_000_000_000
		none = math.MaxInt64
		at   = 15_000 // between samples
	)
	for _, typ := range []prompb.Chunk_Encoding{prompb.Chunk_XOR, prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM} {
		samples := testSamples(typ, 120, t0)
		whole := encodeChunk(t, typ, samples)
		for _, tc := range []struct {
			name     string
			from, to int64
			keep     [2]int // samples[keep[0]:keep[1]]; {0, 0}: none
		}{
			{"nothing to cut", math.MinInt64, none, [2]int{0, 120}},
			{"from before the chunk", t0 - 1, none, [2]int{0, 120}},
			{"from its first sample", t0, none, [2]int{0, 120}},
			{"from just after it", t0 + 1, none, [2]int{1, 120}},
			{"from between samples", t0 + 100*at - 7_000, none, [2]int{100, 120}},
			{"from a sample", t0 + 100*at, none, [2]int{100, 120}},
			{"from the last sample", t0 + 119*at, none, [2]int{119, 120}},
			{"from after the chunk", t0 + 119*at + 1, none, [2]int{0, 0}},
			{"to after the chunk", math.MinInt64, t0 + 119*at + 1, [2]int{0, 120}},
			{"to its last sample", math.MinInt64, t0 + 119*at, [2]int{0, 120}},
			{"to just before it", math.MinInt64, t0 + 119*at - 1, [2]int{0, 119}},
			{"to between samples", math.MinInt64, t0 + 20*at + 7_000, [2]int{0, 21}},
			{"to the first sample", math.MinInt64, t0, [2]int{0, 1}},
			{"to before the chunk", math.MinInt64, t0 - 1, [2]int{0, 0}},
			{"both ends", t0 + 40*at - 1, t0 + 60*at + 1, [2]int{40, 61}},
			{"between two samples", t0 + 40*at + 1, t0 + 41*at - 1, [2]int{0, 0}},
		} {
			t.Run(typ.String()+"/"+tc.name, func(t *testing.T) {
				k := cutter{from: tc.from, to: tc.to}
				got, ok, err := k.cut(whole)
				if err != nil {
					t.Fatal(err)
				}
				if tc.keep == [2]int{} {
					if ok {
						t.Fatalf("kept a chunk [%d, %d] with no sample in [%d, %d]", got.MinTimeMs, got.MaxTimeMs, tc.from, tc.to)
					}
					return
				}
				if !ok {
					t.Fatal("dropped the chunk")
				}
				want := encodeChunk(t, typ, samples[tc.keep[0]:tc.keep[1]])
				if tc.keep == [2]int{0, 120} {
					want = whole
				}
				if got.MinTimeMs != want.MinTimeMs || got.MaxTimeMs != want.MaxTimeMs || got.Type != want.Type || !bytes.Equal(got.Data, want.Data) {
					t.Errorf("got [%d, %d] %v of %d bytes, want [%d, %d] %v of %d bytes", got.MinTimeMs, got.MaxTimeMs, got.Type, len(got.Data), want.MinTimeMs, want.MaxTimeMs, want.Type, len(want.Data))
				}
			})
		}
	}
}

// TestCutterRefusesBrokenChunks feeds the cutter chunks no encoder writes,
// as a broken or hostile Prometheus may send them: each is an error, and
// none takes more than the chunk's own size to find out.
func TestCutterRefusesBrokenChunks(t *testing.T) {
	const t0 = 1_700_000_000_000
	from := int64(t0 + 60*15_000)
	xor := encodeChunk(t, prompb.Chunk_XOR, testSamples(prompb.Chunk_XOR, 120, t0))
	hist := encodeChunk(t, prompb.Chunk_HISTOGRAM, testSamples(prompb.Chunk_HISTOGRAM, 120, t0))
	hugeSpans := bytes.Clone(hist.Data)
	// After the 3-byte header: the zero threshold (1 byte for 0), the
	// schema as a varbit int, then the positive spans' count: all ones
	// is the largest count a varbit uint can say.
	for i := 4; i < 16; i++ {
		hugeSpans[i] = 0xff
	}
	for _, tc := range []struct {
		name string
		c    prompb.Chunk
	}{
		{"truncated XOR chunk", prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 119*15_000, Type: prompb.Chunk_XOR, Data: xor.Data[:len(xor.Data)/2]}},
		{"XOR chunk shorter than its header", prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 119*15_000, Type: prompb.Chunk_XOR, Data: xor.Data[:1]}},
		{"histogram chunk of a huge layout", prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 119*15_000, Type: prompb.Chunk_HISTOGRAM, Data: hugeSpans}},
		{"histogram chunk shorter than its header", prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 119*15_000, Type: prompb.Chunk_HISTOGRAM, Data: hist.Data[:2]}},
		{"unknown encoding", prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 119*15_000, Type: prompb.Chunk_Encoding(9), Data: xor.Data}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := cutter{from: from, to: math.MaxInt64}
			if _, _, err := k.cut(tc.c); err == nil {
				t.Error("no error")
			}
		})
	}
	// What Prometheus would not cut is passed on as it is, unread.
	k := noCut()
	broken := prompb.Chunk{MinTimeMs: t0, MaxTimeMs: t0 + 1, Type: prompb.Chunk_XOR, Data: []byte{1}}
	if got, ok, err := k.cut(broken); err != nil || !ok || !bytes.Equal(got.Data, broken.Data) {
		t.Errorf("noCut: %v %v %v, want the chunk as it is", got, ok, err)
	}
	if k.from != math.MinInt64 {
		t.Errorf("noCut cuts at %d", k.from)
	}
}

// TestCutBrokenChunkFromPrometheus puts a Prometheus whose remote read
// answers a short read from inside its head with a broken chunk behind the
// sidecar: the chunk, which the sidecar must cut, costs the call a clear
// Internal status, and the next call is answered as usual.
func TestCutBrokenChunkFromPrometheus(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{ExternalLabels: map[string]string{"replica": "r1"}, Args: []string{"--web.enable-remote-write-receiver"}})
	const t0 = 1_740_787_200_000 // 2025-03-01T00:00:00Z, on a head chunk range boundary
	var g promtest.Series
	for j := range 600 {
		g.Samples = append(g.Samples, promtest.Sample{T: t0 + int64(j)*1000, V: float64(j)})
	}
	prom.RemoteWrite(t, promtest.Family{Name: "g", Type: "gauge", Series: []promtest.Series{g}})
	newest := g.Samples[len(g.Samples)-1].T
	mint := newest - 10_000

	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	forward := promtest.Proxy(target)
	var broken atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/read" || !broken.Load() {
			forward.ServeHTTP(w, r)
			return
		}
		// The chunk's header claims 120 samples; its data ends after two.
		truncated := encodeChunk(t, prompb.Chunk_XOR, testSamples(prompb.Chunk_XOR, 120, mint-60_000))
		truncated.Data = truncated.Data[:8]
		resp := &prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{
			Labels: []prompb.Label{{Name: "__name__", Value: "g"}},
			Chunks: []prompb.Chunk{truncated},
		}}}
		w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
		w.Write(frame(marshal(t, resp)))
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(u, &http.Client{Transport: Transport()})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tgt := NewTarget(client, logger, TargetOptions{MaxAge: 100 * time.Millisecond, Timeout: time.Minute})
	conn := storetest.Serve(t, func(s *grpc.Server) {
		storepb.RegisterStoreServer(s, NewStore(client, tgt, nil, logger, NewMetrics(nil)))
	})
	store := storepb.NewStoreClient(conn)
	read := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		stream, err := store.Series(ctx, &storepb.SeriesRequest{MinTime: mint, MaxTime: newest,
			Matchers: []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: "g"}}})
		if err != nil {
			return err
		}
		for {
			if _, err := stream.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	}
	// The sidecar cuts once it knows where the head starts.
	if err := read(); err != nil {
		t.Fatalf("from Prometheus itself: %v", err)
	}
	broken.Store(true)
	wait.Until(t, 10*time.Second, "the broken chunk to be refused", func() error {
		err := read()
		if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "cut a chunk") {
			return fmt.Errorf("error %v, want Internal saying it could not cut the chunk", err)
		}
		return nil
	})
	broken.Store(false)
	if err := read(); err != nil {
		t.Fatalf("after the broken answer: %v", err)
	}
}

// FuzzCut cuts any bytes as a chunk of any encoding to any range, as a
// broken Prometheus may send them: it never panics, and a chunk it keeps
// holds exactly the input's samples in the range, as Prometheus's decoder
// reads them, encoded as Prometheus's cut would encode them.
func FuzzCut(f *testing.F) {
	const t0 = 1_700_000_000_000
	for _, typ := range []prompb.Chunk_Encoding{prompb.Chunk_XOR, prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM} {
		c := encodeChunk(f, typ, testSamples(typ, 30, t0))
		f.Add(int32(typ), c.Data, int64(t0+10*15_000), int64(t0+20*15_000))
		f.Add(int32(typ), c.Data[:len(c.Data)/2], int64(t0+1), int64(math.MaxInt64))
	}
	f.Fuzz(func(t *testing.T, typ int32, data []byte, from, to int64) {
		c := prompb.Chunk{MinTimeMs: math.MinInt64, MaxTimeMs: math.MaxInt64, Type: prompb.Chunk_Encoding(typ), Data: data}
		k := cutter{from: from, to: to}
		got, ok, err := k.cut(c)
		if err != nil || !ok {
			return
		}
		in, err := chunkenc.FromData(encodings[c.Type], data)
		if err != nil {
			t.Fatalf("cut a chunk Prometheus cannot read: %v", err)
		}
		var want []sampleAt
		it := in.Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			s := sampleAt{t: it.AtT()}
			switch vt {
			case chunkenc.ValFloat:
				_, s.v = it.At()
			case chunkenc.ValHistogram:
				_, s.h = it.AtHistogram(nil)
			case chunkenc.ValFloatHistogram:
				_, s.fh = it.AtFloatHistogram(nil)
			}
			if s.t >= from && s.t <= to {
				want = append(want, s)
			}
		}
		if it.Err() != nil {
			// The cut read the samples it kept; what follows them in
			// the input may be broken.
			return
		}
		if len(want) == 0 {
			t.Fatalf("kept [%d, %d] of a chunk with no sample in [%d, %d]", got.MinTimeMs, got.MaxTimeMs, from, to)
		}
		if exp := encodeChunk(t, c.Type, want); got.MinTimeMs != exp.MinTimeMs || got.MaxTimeMs != exp.MaxTimeMs || !bytes.Equal(got.Data, exp.Data) {
			t.Fatalf("cut to [%d, %d] of %d bytes, want [%d, %d] of %d bytes", got.MinTimeMs, got.MaxTimeMs, len(got.Data), exp.MinTimeMs, exp.MaxTimeMs, len(exp.Data))
		}
	})
}
