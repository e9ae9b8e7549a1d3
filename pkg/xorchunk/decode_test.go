package xorchunk_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/xorchunk"
)

type sample struct {
	t int64
	v uint64 // bits, so that NaNs compare
}

// encode writes samples into an XOR chunk with Prometheus's own appender.
func encode(tb testing.TB, ts []int64, vs []float64) []byte {
	tb.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		tb.Fatal(err)
	}
	for i := range ts {
		app.Append(ts[i], vs[i])
	}
	return c.Bytes()
}

// reference decodes b with Prometheus's own iterator.
func reference(b []byte) (out []sample, err error) {
	c, err := chunkenc.FromData(chunkenc.EncXOR, b)
	if err != nil {
		return nil, err
	}
	it := c.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

// decoded reads b through an Iterator, decoded whole.
func decoded(b []byte) (out []sample, err error) { return read(xorchunk.NewIterator(b)) }

// decodedLean reads b through a lean Iterator, decoded a batch at a time.
func decodedLean(b []byte) (out []sample, err error) {
	it := &xorchunk.Iterator{}
	it.ResetLean(b)
	return read(it)
}

// decodedFew returns a reader of b through an Iterator that decodes n
// samples at a time.
func decodedFew(n int) func([]byte) ([]sample, error) {
	return func(b []byte) ([]sample, error) {
		it := &xorchunk.Iterator{}
		it.ResetFew(b, n)
		return read(it)
	}
}

func read(it *xorchunk.Iterator) (out []sample, err error) {
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		out = append(out, sample{t, math.Float64bits(v)})
	}
	return out, it.Err()
}

// compare fails unless b decodes to the samples Prometheus's iterator reads
// from it. Where b ends early, Prometheus's iterator may read zeros past its
// end as if they were data; the Iterator fails instead, after the samples
// that were whole.
func compare(t *testing.T, b []byte) {
	t.Helper()
	compareWith(t, b, decoded)
	compareWith(t, b, decodedLean)
	compareWith(t, b, decodedFew(1))
	compareWith(t, b, decodedFew(5))
}

func compareWith(t *testing.T, b []byte, decoded func([]byte) ([]sample, error)) {
	t.Helper()
	want, wantErr := reference(b)
	got, gotErr := decoded(b)
	if gotErr == nil && wantErr != nil {
		t.Fatalf("no error, Prometheus's iterator: %v", wantErr)
	}
	if gotErr == nil && len(got) != len(want) || len(got) > len(want) {
		t.Fatalf("%d samples (error %v), Prometheus's iterator: %d", len(got), gotErr, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d: %d %x, Prometheus's iterator: %d %x", i, got[i].t, got[i].v, want[i].t, want[i].v)
		}
	}
}

// widthValues are values whose XOR with the one before has every number of
// significant bits, 1 to 64, at varied offsets, sixteen times in a row:
// eight times the same bits, which the encoder writes within the leading
// and trailing zero counts of the first, then alternating with the bits one
// place lower, which it writes with new counts every time. So both ways of
// writing a value are read at every width.
var widthValues = func() []float64 {
	var vs []float64
	bits := uint64(0x3ff0_0000_0000_0000)
	for sig := uint(1); sig <= 64; sig++ {
		lead := uint(sig*7) % (65 - sig)
		mask := (uint64(1)<<sig - 1) << (64 - lead - sig)
		if sig == 64 {
			mask = ^uint64(0)
		}
		lower := mask
		if lead+sig < 64 {
			lower = mask >> 1
		}
		for k := range 16 {
			switch {
			case k < 8 || k%2 == 0:
				bits ^= mask
			default:
				bits ^= lower
			}
			vs = append(vs, math.Float64frombits(bits))
		}
	}
	return vs
}()

// boundaryTimes are timestamps whose deltas of deltas are each width's
// largest and smallest values and one past them, each followed by its
// opposite so that the spacing stays positive.
var boundaryTimes = func() []int64 {
	ts := []int64{0, 1 << 32}
	delta := int64(1 << 32)
	for _, dod := range []int64{0, 1, 8191, 8192, 8193, 65535, 65536, 65537, 524287, 524288, 524289, 1 << 31} {
		for _, d := range []int64{dod, -dod, -dod, dod} {
			delta += d
			ts = append(ts, ts[len(ts)-1]+delta)
		}
	}
	return ts
}()

func TestDecodeMatchesPrometheus(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counter := func(i int) float64 { return float64(i * 7) }
	for _, tc := range []struct {
		name string
		n    int
		// time and value of sample i
		t func(i int) int64
		v func(i int) float64
	}{
		{"one sample", 1, func(int) int64 { return 1_700_000_000_000 }, counter},
		{"two samples", 2, func(i int) int64 { return int64(i) * 15_000 }, counter},
		{"regular counter", 120, func(i int) int64 { return 1_700_000_000_000 + int64(i)*15_000 }, counter},
		{"negative times", 120, func(i int) int64 { return -5_000_000 + int64(i)*15_000 }, counter},
		{"constant", 120, func(i int) int64 { return int64(i) * 15_000 }, func(int) float64 { return 42 }},
		{"jittered times", 120, func(i int) int64 { return int64(i)*15_000 + rng.Int64N(100) }, counter},
		{"delta of delta at the bounds of every width", len(boundaryTimes), func(i int) int64 { return boundaryTimes[i] }, counter},
		{"random floats", 120, func(i int) int64 { return int64(i) * 10_000 }, func(int) float64 { return rng.NormFloat64() * 1e6 }},
		{"random bits", 120, func(i int) int64 { return int64(i) * 10_000 }, func(int) float64 { return math.Float64frombits(rng.Uint64()) }},
		{"special values", 120, func(i int) int64 { return int64(i) * 15_000 }, func(i int) float64 {
			return []float64{1, math.NaN(), math.Float64frombits(value.StaleNaN), math.Inf(1), math.Inf(-1), 0, -0.5, math.MaxFloat64, math.SmallestNonzeroFloat64}[i%9]
		}},
		{"long chunk", 5000, func(i int) int64 { return int64(i) * 1_000 }, func(i int) float64 { return math.Sin(float64(i)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, vs := make([]int64, tc.n), make([]float64, tc.n)
			for i := range tc.n {
				ts[i], vs[i] = tc.t(i), tc.v(i)
			}
			b := encode(t, ts, vs)
			got, err := decoded(b)
			if err != nil || len(got) != tc.n {
				t.Fatalf("decoded %d of %d samples, error %v", len(got), tc.n, err)
			}
			compare(t, b)
			// A chunk cut short anywhere fails, after the samples before
			// the cut. (Prometheus's iterator panics on less than the
			// header.)
			for cut := 2; cut < len(b); cut += 1 + len(b)/400 {
				got, err := decoded(b[:cut])
				if err == nil {
					t.Fatalf("no error for the first %d of %d bytes", cut, len(b))
				}
				if len(got) > 0 && got[len(got)-1].t != ts[len(got)-1] {
					t.Fatalf("cut at %d bytes: last sample at %d, want %d", cut, got[len(got)-1].t, ts[len(got)-1])
				}
				compare(t, b[:cut])
			}
		})
	}
}

// TestDecodeEveryWidthAtEveryOffset reads values of every significant width
// starting at each of the 8 bit offsets in a byte: the decoder reads fields
// from a 64-bit window where they fit, and how many bits fit depends on
// the offset.
func TestDecodeEveryWidthAtEveryOffset(t *testing.T) {
	for shift := range 8 {
		// Each leading sample repeats the first value 1 ms off the regular
		// spacing, and takes 17 bits (a 2-bit prefix, a 14-bit delta of
		// delta, a 1-bit value): the widths that follow start later.
		var ts []int64
		var vs []float64
		for i := range shift {
			ts = append(ts, int64(i)*15_000+int64(i%2))
			vs = append(vs, widthValues[0])
		}
		// The spacing grows by a millisecond every five samples: each
		// change takes 15 bits more than no change, an odd number, so the
		// widths that follow meet both even and odd offsets.
		tm, delta := int64(shift)*15_000, int64(15_000)
		for i, v := range widthValues {
			if i%5 == 4 {
				delta++
			}
			tm += delta
			ts = append(ts, tm)
			vs = append(vs, v)
		}
		b := encode(t, ts, vs)
		got, err := decoded(b)
		if err != nil || len(got) != len(ts) {
			t.Fatalf("shift %d: decoded %d of %d samples, error %v", shift, len(got), len(ts), err)
		}
		compare(t, b)
	}
}

func TestDecodeTimesMustIncrease(t *testing.T) {
	for _, tc := range []struct {
		name string
		ts   []int64
		want int // samples before the error
	}{
		{"second equal to first", []int64{10, 10, 20}, 1},
		{"second before first", []int64{10, 5, 20}, 1},
		{"later one repeats", []int64{10, 20, 30, 30, 40}, 3},
		{"later one goes back", []int64{10, 20, 30, 25, 40}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Prometheus's appender writes what it is given.
			b := encode(t, tc.ts, make([]float64, len(tc.ts)))
			got, err := decoded(b)
			if err == nil || len(got) != tc.want {
				t.Fatalf("%d samples, error %v; want %d and an error", len(got), err, tc.want)
			}
		})
	}
}

func TestIteratorReuse(t *testing.T) {
	long := encode(t, []int64{1, 2, 3}, []float64{1, 2, 3})
	short := encode(t, []int64{7}, []float64{9})
	it := xorchunk.NewIterator(long)
	for it.Next() != chunkenc.ValNone {
	}
	it.Reset(short)
	if it.Next() != chunkenc.ValFloat {
		t.Fatal("no sample after Reset")
	}
	if tm, v := it.At(); tm != 7 || v != 9 {
		t.Fatalf("At() = %d, %v after Reset, want 7, 9", tm, v)
	}
	if it.Next() != chunkenc.ValNone {
		t.Fatal("a second sample in a one-sample chunk")
	}
	allocs := testing.AllocsPerRun(10, func() {
		it.Reset(long)
		for it.Next() != chunkenc.ValNone {
		}
	})
	if allocs != 0 {
		t.Errorf("Reset allocates %v times once the iterator has seen a larger chunk", allocs)
	}
	allocs = testing.AllocsPerRun(10, func() {
		it.ResetLean(long)
		for it.Next() != chunkenc.ValNone {
		}
	})
	if allocs != 0 {
		t.Errorf("ResetLean allocates %v times once the iterator has seen a larger chunk", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, []int64{1, 2, 4, 1 << 30}, []float64{1, 1, 2.5, math.NaN()}))
	f.Add(encode(f, []int64{0, 15_000, 30_000, 45_007}, []float64{0, 1, 3, 3}))
	f.Add([]byte{0, 3, 0xff, 0x80})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return // FromData refuses it; Decode says it is too short
		}
		compare(t, b)
	})
}

// TestIteratorSeek seeks a chunk longer than a lean batch to every
// timestamp and one past it, decoded whole and lean, from a fresh iterator
// and onwards from the last seek, and
// checks each answer against the samples Prometheus's iterator reads; past
// the end, At keeps the last sample.
func TestIteratorSeek(t *testing.T) {
	const n = 120
	ts, vs := make([]int64, n), make([]float64, n)
	for i := range n {
		ts[i], vs[i] = int64(i)*15_000+int64(i%3), float64(i)
	}
	b := encode(t, ts, vs)
	want, err := reference(b)
	if err != nil || len(want) != n {
		t.Fatalf("reference read %d samples, error %v", len(want), err)
	}
	// firstAtOrAfter is the index of the first sample at or after tm.
	firstAtOrAfter := func(tm int64) int {
		i := 0
		for i < n && want[i].t < tm {
			i++
		}
		return i
	}
	// open decodes b whole (batch 0), lean (-1) or batch samples at a time.
	open := func(batch int) *xorchunk.Iterator {
		it := &xorchunk.Iterator{}
		switch batch {
		case 0:
			it.Reset(b)
		case -1:
			it.ResetLean(b)
		default:
			it.ResetFew(b, batch)
		}
		return it
	}
	onwards, onwardsLean, onwardsFew := open(0), open(-1), open(5)
	for i := range n {
		for _, target := range []int64{ts[i], ts[i] + 1} {
			for name, it := range map[string]*xorchunk.Iterator{
				"fresh": open(0), "onwards": onwards, "fresh lean": open(-1), "onwards lean": onwardsLean,
				"fresh few": open(5), "onwards few": onwardsFew,
			} {
				typ := it.Seek(target)
				j := firstAtOrAfter(target)
				if j == n {
					if typ != chunkenc.ValNone {
						t.Fatalf("%s: Seek(%d) past the last sample: %v", name, target, typ)
					}
					if got, _ := it.At(); got != want[n-1].t {
						t.Fatalf("%s: At() after the end at %d, want the last sample at %d", name, got, want[n-1].t)
					}
					continue
				}
				got, v := it.At()
				if typ != chunkenc.ValFloat || got != want[j].t || math.Float64bits(v) != want[j].v {
					t.Fatalf("%s: Seek(%d) = %v at %d, want sample %d at %d", name, target, typ, got, j, want[j].t)
				}
			}
		}
	}
	// Read on after seeking into the middle: every later sample, in order.
	it := open(-1)
	it.Seek(ts[50])
	for i := 51; i < n; i++ {
		if it.Next() != chunkenc.ValFloat {
			t.Fatalf("no sample %d after seeking to sample 50", i)
		}
		if got, _ := it.At(); got != ts[i] {
			t.Fatalf("sample %d at %d, want %d", i, got, ts[i])
		}
	}
	if it.Next() != chunkenc.ValNone || it.Err() != nil {
		t.Fatalf("more than %d samples, or an error: %v", n, it.Err())
	}
}
