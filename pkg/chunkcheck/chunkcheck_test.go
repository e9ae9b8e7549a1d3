package chunkcheck_test

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"

	"github.com/tandem-metrics/tandem/pkg/chunkcheck"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// bitWriter writes a chunk's bit stream as Prometheus's encodings do, for
// chunks no encoder would write.
type bitWriter struct {
	b []byte
	n uint // bits written
}

func (w *bitWriter) bits(v uint64, n uint) *bitWriter {
	for i := int(n) - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 == 1 {
			w.b[len(w.b)-1] |= 1 << (7 - w.n%8)
		}
		w.n++
	}
	return w
}

// uvarbit writes v in Prometheus's varbit encoding, in its widest form.
func (w *bitWriter) uvarbit(v uint64) *bitWriter {
	if v == 0 {
		return w.bits(0, 1)
	}
	return w.bits(0xff, 8).bits(v, 64)
}

// histogramChunk is a chunk of one histogram sample whose layout layout
// writes, padded with zero bytes to size.
func histogramChunk(size int, layout func(w *bitWriter)) []byte {
	w := &bitWriter{}
	w.bits(1, 16).bits(0, 8) // one sample, no counter reset flags
	w.bits(0, 8)             // zero threshold 0
	layout(w)
	for len(w.b) < size {
		w.b = append(w.b, 0)
	}
	return w.b
}

// spans writes a schema-0 layout: the positive spans' lengths, no negative
// spans.
func spans(lengths ...uint64) func(*bitWriter) {
	return func(w *bitWriter) {
		w.uvarbit(0) // schema 0
		w.uvarbit(uint64(len(lengths)))
		for _, l := range lengths {
			w.uvarbit(l).uvarbit(0)
		}
		w.uvarbit(0)
	}
}

func appendHistograms(t testing.TB, enc chunkenc.Encoding, hs []*histogram.Histogram) []byte {
	t.Helper()
	c, err := chunkenc.NewEmptyChunk(enc)
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.Appender()
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		var (
			nc  chunkenc.Chunk
			err error
		)
		if enc == chunkenc.EncFloatHistogram {
			nc, _, app, err = app.AppendFloatHistogram(nil, int64(i)*15_000, h.ToFloat(nil), true)
		} else {
			nc, _, app, err = app.AppendHistogram(nil, int64(i)*15_000, h, true)
		}
		if err != nil || nc != nil {
			t.Fatalf("append histogram %d: new chunk %v, %v", i, nc != nil, err)
		}
	}
	return c.Bytes()
}

// wideHistogram has n buckets in one span, at schema 8.
func wideHistogram(n int) *histogram.Histogram {
	h := &histogram.Histogram{Schema: 8, Count: uint64(n), PositiveSpans: []histogram.Span{{Offset: -100, Length: uint32(n)}}}
	h.PositiveBuckets = make([]int64, n)
	h.PositiveBuckets[0] = 1
	return h
}

// TestCheckAcceptsWhatPrometheusWrites checks chunks Prometheus's encoders
// wrote, of every encoding, up to the bucket limit.
func TestCheckAcceptsWhatPrometheusWrites(t *testing.T) {
	xor := chunkenc.NewXORChunk()
	app, _ := xor.Appender()
	for i := range 120 {
		app.Append(int64(i)*15_000, float64(i)*1.5)
	}
	type chunkCase struct {
		name string
		enc  chunkenc.Encoding
		data []byte
	}
	cases := []chunkCase{
		{"XOR", chunkenc.EncXOR, xor.Bytes()},
		{"empty XOR", chunkenc.EncXOR, chunkenc.NewXORChunk().Bytes()},
		{"empty histogram", chunkenc.EncHistogram, chunkenc.NewHistogramChunk().Bytes()},
	}
	for _, enc := range []chunkenc.Encoding{chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		cases = append(cases,
			chunkCase{enc.String() + " exponential", enc, appendHistograms(t, enc, tsdbutil.GenerateTestHistograms(100))},
			chunkCase{enc.String() + " custom buckets", enc, appendHistograms(t, enc, tsdbutil.GenerateTestCustomBucketsHistograms(100))},
			chunkCase{enc.String() + " at the bucket limit", enc, appendHistograms(t, enc, []*histogram.Histogram{wideHistogram(chunkcheck.MaxHistogramBuckets)})},
		)
	}
	var k chunkcheck.Checker
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := k.Check(tc.enc, tc.data, 0, 1_500_000); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := k.Check(tc.enc, tc.data, 1, 1_500_000); tc.data[1] != 0 && err == nil {
				t.Fatal("Check of a chunk whose first sample is before its range passed")
			}
		})
	}
}

// TestCheckRefusesWhatNoEncoderWrites checks chunks whose counts would make
// a decoder allocate far more than they hold, or read past them; each is
// refused before a decoder sees it.
func TestCheckRefusesWhatNoEncoderWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  chunkenc.Encoding
		data []byte
		want string
	}{
		{"histogram of 2 bytes", chunkenc.EncHistogram, []byte{0, 0}, "shorter than its header"},
		{"float histogram of 2 bytes", chunkenc.EncFloatHistogram, []byte{0, 1}, "shorter than its header"},
		{"XOR of 1 byte", chunkenc.EncXOR, []byte{1}, "shorter than its header"},
		{"span of 2^32-1 buckets", chunkenc.EncHistogram, histogramChunk(144, spans(math.MaxUint32)), "more than the limit"},
		{"float span of 2^32-1 buckets", chunkenc.EncFloatHistogram, histogramChunk(144, spans(math.MaxUint32)), "more than the limit"},
		{"spans summing past the limit", chunkenc.EncHistogram, histogramChunk(20_000, spans(40_000, 40_000)), "more than the limit"},
		{"2^40 spans", chunkenc.EncHistogram, histogramChunk(144, func(w *bitWriter) { w.uvarbit(0).uvarbit(1 << 40) }), "spans, more than the limit"},
		{"2^40 custom bounds", chunkenc.EncHistogram, histogramChunk(144, func(w *bitWriter) {
			w.bits(0b1110, 4).bits(512-53, 9) // schema -53, in 9 bits
			w.uvarbit(0).uvarbit(0).uvarbit(1 << 40)
		}), "bounds, more than the limit"},
		{"more buckets than bytes", chunkenc.EncHistogram, histogramChunk(200, spans(10_000)), "bits for the first sample"},
		{"float buckets beyond the bytes", chunkenc.EncFloatHistogram, histogramChunk(200, spans(100)), "bits for the first sample"},
		{"unknown schema", chunkenc.EncHistogram, histogramChunk(144, func(w *bitWriter) { w.bits(0b1110, 4).bits(60, 9) }), "unknown schema"},
		{"finer schema with spans going back", chunkenc.EncHistogram, histogramChunk(144, func(w *bitWriter) {
			w.bits(0b110, 3).bits(20, 6) // schema 20, finer than Prometheus reads
			w.uvarbit(2).uvarbit(1).uvarbit(0).uvarbit(1).bits(0b10, 2).bits(8-3, 3).uvarbit(0)
		}), "offset is negative"},
		{"layout cut short", chunkenc.EncHistogram, histogramChunk(0, func(w *bitWriter) { w.uvarbit(0).bits(0xff, 8) }), "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k chunkcheck.Checker
			err := k.Check(tc.enc, tc.data, math.MinInt64, math.MaxInt64)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check of %s: %v, want an error saying %q", hex.EncodeToString(tc.data[:min(len(tc.data), 24)]), err, tc.want)
			}
		})
	}
}

// FuzzCheck decodes every chunk the checker passes as the query does,
// through the replica merge's series iterator: nothing panics, and no
// histogram has more buckets, spans or bounds than the limit.
func FuzzCheck(f *testing.F) {
	xor := chunkenc.NewXORChunk()
	app, _ := xor.Appender()
	for i := range 10 {
		app.Append(int64(i)*15_000, float64(i))
	}
	f.Add(uint8(chunkenc.EncXOR), xor.Bytes())
	for _, enc := range []chunkenc.Encoding{chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		for _, hs := range [][]*histogram.Histogram{
			tsdbutil.GenerateTestHistograms(5),
			tsdbutil.GenerateTestCustomBucketsHistograms(5),
			tsdbutil.GenerateTestGaugeHistograms(3),
		} {
			f.Add(uint8(enc), appendHistograms(f, enc, hs))
		}
		f.Add(uint8(enc), histogramChunk(144, spans(math.MaxUint32)))
	}
	f.Fuzz(func(t *testing.T, encoding uint8, data []byte) {
		enc := chunkenc.Encoding(1 + encoding%3)
		var k chunkcheck.Checker
		if k.Check(enc, data, math.MinInt64, math.MaxInt64) != nil {
			return
		}
		chk, err := chunkenc.FromData(enc, data)
		if err != nil {
			t.Fatal(err)
		}
		series := dedup.NewChunkSeries(labels.FromStrings("__name__", "x"), []dedup.Chunk{{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Chunk: chk}})
		it := series.Iterator(nil)
		var fh *histogram.FloatHistogram
		for n := 0; ; n++ {
			if n > math.MaxUint16 {
				t.Fatalf("more samples than a chunk can hold")
			}
			switch it.Next() {
			case chunkenc.ValNone:
				return
			case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
				_, fh = it.AtFloatHistogram(fh)
				checkBounds(t, fh)
			}
		}
	})
}

func checkBounds(t *testing.T, fh *histogram.FloatHistogram) {
	t.Helper()
	buckets := 0
	for _, s := range append(fh.PositiveSpans, fh.NegativeSpans...) {
		buckets += int(s.Length)
	}
	if buckets > chunkcheck.MaxHistogramBuckets || len(fh.PositiveSpans)+len(fh.NegativeSpans) > 2*chunkcheck.MaxHistogramBuckets || len(fh.CustomValues) > chunkcheck.MaxHistogramBuckets {
		t.Fatalf("histogram of %d buckets, %d+%d spans, %d custom bounds: past the limit of %d", buckets, len(fh.PositiveSpans), len(fh.NegativeSpans), len(fh.CustomValues), chunkcheck.MaxHistogramBuckets)
	}
}
