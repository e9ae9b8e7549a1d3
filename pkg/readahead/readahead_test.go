package readahead

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tandem-metrics/tandem/internal/wait"
)

type readSample struct {
	t    int64
	f    float64
	h    string // a histogram sample, as a float histogram
	hint histogram.CounterResetHint
}

// listSet is a SeriesSet over a list.
type listSet struct {
	series []storage.Series
	i      int
}

func newListSet(series ...storage.Series) *listSet { return &listSet{series: series, i: -1} }

func (l *listSet) Next() bool                        { l.i++; return l.i < len(l.series) }
func (l *listSet) At() storage.Series                { return l.series[l.i] }
func (l *listSet) Err() error                        { return nil }
func (l *listSet) Warnings() annotations.Annotations { return nil }

// floatSeries returns a series of n float samples, every 15 s.
func floatSeries(name string, n int) storage.Series {
	s := make([]chunks.Sample, n)
	for i := range s {
		s[i] = fSample{int64(i) * 15_000, float64(i) * 1.5}
	}
	return storage.NewListSeries(labels.FromStrings("__name__", name), s)
}

// histograms returns a series of n histogram samples, whose buckets change
// in number and whose counter resets every seventh sample, said by a hint.
func histograms(name string, n int) storage.Series {
	s := make([]chunks.Sample, n)
	for i := range s {
		buckets := 1 + i%4
		h := &histogram.Histogram{
			Count:           uint64(i % 7 * buckets),
			Sum:             float64(i%7) * 1.5,
			Schema:          1,
			PositiveSpans:   []histogram.Span{{Offset: int32(i % 3), Length: uint32(buckets)}},
			PositiveBuckets: make([]int64, buckets),
		}
		h.PositiveBuckets[0] = int64(i % 7)
		if i%7 == 0 {
			h.CounterResetHint = histogram.CounterReset
		}
		s[i] = hSample{int64(i) * 15_000, h}
	}
	return storage.NewListSeries(labels.FromStrings("__name__", name), s)
}

// floatHistograms returns a series of n float histogram samples.
func floatHistograms(name string, n int) storage.Series {
	s := make([]chunks.Sample, n)
	for i := range s {
		s[i] = fhSample{int64(i) * 15_000, &histogram.FloatHistogram{
			Count: float64(i) + 0.5, Sum: float64(i) / 3, Schema: 0,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []float64{float64(i) + 0.5},
		}}
	}
	return storage.NewListSeries(labels.FromStrings("__name__", name), s)
}

// mixed returns a series of n float samples, then n histograms.
func mixed(name string, n int) storage.Series {
	var s []chunks.Sample
	for i := range n {
		s = append(s, fSample{int64(i) * 15_000, float64(i)})
	}
	for i := range n {
		s = append(s, hSample{int64(n+i) * 15_000, &histogram.Histogram{Count: uint64(i), Sum: float64(i)}})
	}
	return storage.NewListSeries(labels.FromStrings("__name__", name), s)
}

type fSample struct {
	t int64
	f float64
}

func (s fSample) T() int64                    { return s.t }
func (s fSample) F() float64                  { return s.f }
func (fSample) H() *histogram.Histogram       { return nil }
func (fSample) FH() *histogram.FloatHistogram { return nil }
func (fSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fSample) Copy() chunks.Sample         { return s }

type hSample struct {
	t int64
	h *histogram.Histogram
}

func (s hSample) T() int64                    { return s.t }
func (hSample) F() float64                    { return 0 }
func (s hSample) H() *histogram.Histogram     { return s.h }
func (hSample) FH() *histogram.FloatHistogram { return nil }
func (hSample) Type() chunkenc.ValueType      { return chunkenc.ValHistogram }
func (s hSample) Copy() chunks.Sample         { return s }

type fhSample struct {
	t  int64
	fh *histogram.FloatHistogram
}

func (s fhSample) T() int64                      { return s.t }
func (fhSample) F() float64                      { return 0 }
func (fhSample) H() *histogram.Histogram         { return nil }
func (s fhSample) FH() *histogram.FloatHistogram { return s.fh }
func (fhSample) Type() chunkenc.ValueType        { return chunkenc.ValFloatHistogram }
func (s fhSample) Copy() chunks.Sample           { return s }

var errRead = errors.New("chunk unreadable")

// failing is a series whose iterator fails after its samples.
type failing struct{ storage.Series }

func (s failing) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if f, ok := it.(failingIterator); ok {
		it = f.Iterator
	}
	return failingIterator{s.Series.Iterator(it)}
}

type failingIterator struct{ chunkenc.Iterator }

func (failingIterator) Err() error { return errRead }

// counting counts the iterators taken of its series.
type counting struct {
	storage.Series
	n *atomic.Int64
}

func (c counting) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	c.n.Add(1)
	return c.Series.Iterator(it)
}

// waitIdle waits until every reader of set waits for work: none will read
// another series until more are asked for.
func waitIdle(t *testing.T, set *SeriesSet) {
	t.Helper()
	r := set.r
	wait.Until(t, 10*time.Second, "the readers to wait", func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.waiting != r.readers {
			return fmt.Errorf("%d of %d readers wait", r.waiting, r.readers)
		}
		return nil
	})
}

// readAll reads every sample of s through it.
func readAll(s storage.Series, it chunkenc.Iterator) ([]readSample, chunkenc.Iterator, error) {
	it = s.Iterator(it)
	var out []readSample
	for {
		switch it.Next() {
		case chunkenc.ValNone:
			return out, it, it.Err()
		case chunkenc.ValFloat:
			t, f := it.At()
			out = append(out, readSample{t: t, f: f})
		case chunkenc.ValHistogram:
			t, h := it.AtHistogram(nil)
			fh := h.ToFloat(nil)
			out = append(out, readSample{t: t, h: fh.String(), hint: fh.CounterResetHint})
		case chunkenc.ValFloatHistogram:
			t, fh := it.AtFloatHistogram(nil)
			out = append(out, readSample{t: t, h: fh.String(), hint: fh.CounterResetHint})
		}
	}
}

func TestSeriesSetReadsWhatTheSetHolds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []storage.Series
		// order in which the series are read; nil is in order
		order []int
	}{
		{"floats in order", []storage.Series{floatSeries("a", 100), floatSeries("b", 1), floatSeries("c", 0), floatSeries("d", 5000)}, nil},
		{"backwards", []storage.Series{floatSeries("a", 10), floatSeries("b", 20), floatSeries("c", 30)}, []int{2, 1, 0}},
		{"some twice", []storage.Series{floatSeries("a", 10), floatSeries("b", 20), floatSeries("c", 30)}, []int{0, 0, 2, 1, 2}},
		{"histograms among floats", []storage.Series{floatSeries("a", 10), histograms("b", 20), floatSeries("c", 30)}, nil},
		{"histograms", []storage.Series{histograms("a", 300), floatHistograms("b", 40), histograms("c", 1), histograms("d", 0)}, []int{0, 1, 0, 2, 3}},
		{"floats then histograms", []storage.Series{mixed("a", 10), histograms("b", 20), mixed("c", 30)}, nil},
		{"histograms then floats", []storage.Series{failing{histograms("a", 20)}, floatSeries("b", 20), histograms("c", 5)}, []int{1, 0, 2, 0}},
		{"a failing series", []storage.Series{floatSeries("a", 10), failing{floatSeries("b", 20)}, floatSeries("c", 30)}, nil},
		{"far beyond the window", []storage.Series{floatSeries("a", 1), floatSeries("b", 2), floatSeries("c", 3), floatSeries("d", 4), floatSeries("e", 5)}, []int{4, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := NewSeriesSet(newListSet(tc.series...), math.MinInt64, math.MaxInt64, 2, 2)
			defer set.Close()
			var got []storage.Series
			for set.Next() {
				got = append(got, set.At())
			}
			if err := set.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.series) {
				t.Fatalf("%d series, want %d", len(got), len(tc.series))
			}
			order := tc.order
			if order == nil {
				for i := range got {
					order = append(order, i)
				}
			}
			var it, wantIt chunkenc.Iterator
			for _, i := range order {
				if !labels.Equal(got[i].Labels(), tc.series[i].Labels()) {
					t.Fatalf("series %d: labels %s, want %s", i, got[i].Labels(), tc.series[i].Labels())
				}
				var samples, want []readSample
				var err, wantErr error
				samples, it, err = readAll(got[i], it)
				want, wantIt, wantErr = readAll(tc.series[i], wantIt)
				if !errors.Is(err, wantErr) {
					t.Fatalf("series %d: error %v, want %v", i, err, wantErr)
				}
				if !slices.Equal(samples, want) {
					t.Fatalf("series %d: %d samples %v..., want %d", i, len(samples), samples[:min(len(samples), 3)], len(want))
				}
			}
		})
	}
}

// TestReadsTheWindow checks that only the samples from mint to maxt,
// inclusive, are read, whether a reading goroutine or the caller reads them.
func TestReadsTheWindow(t *testing.T) {
	// Samples at 0, 15000, ..., 135000.
	for _, series := range []storage.Series{floatSeries("floats", 10), histograms("histograms", 10)} {
		all, _, err := readAll(series, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name       string
			mint, maxt int64
			want       []int64
		}{
			{"everything", math.MinInt64, math.MaxInt64, []int64{0, 15_000, 30_000, 45_000, 60_000, 75_000, 90_000, 105_000, 120_000, 135_000}},
			{"on samples", 15_000, 60_000, []int64{15_000, 30_000, 45_000, 60_000}},
			{"between samples", 15_001, 59_999, []int64{30_000, 45_000}},
			{"one sample", 45_000, 45_000, []int64{45_000}},
			{"open to the left", math.MinInt64, 30_000, []int64{0, 15_000, 30_000}},
			{"open to the right", 120_000, math.MaxInt64, []int64{120_000, 135_000}},
			{"before every sample", -100, -1, nil},
			{"after every sample", 135_001, 200_000, nil},
		} {
			t.Run(series.Labels().Get("__name__")+"/"+tc.name, func(t *testing.T) {
				var want []readSample
				for _, s := range all {
					if slices.Contains(tc.want, s.t) {
						want = append(want, s)
					}
				}
				// Four copies, so that some are read ahead and some by
				// the caller, whose reading stops the goroutines' turn.
				set := NewSeriesSet(newListSet(series, series, series, series), tc.mint, tc.maxt, 1, 1)
				defer set.Close()
				var it chunkenc.Iterator
				for i := 0; set.Next(); i++ {
					var got []readSample
					got, it, err = readAll(set.At(), it)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("copy %d: samples %v, want %v", i, got, want)
					}
				}
			})
		}
	}
}

func TestIteratorSeek(t *testing.T) {
	for _, series := range []storage.Series{floatSeries("floats", 10), histograms("histograms", 10)} {
		set := NewSeriesSet(newListSet(series), math.MinInt64, math.MaxInt64, 1, 1)
		defer set.Close()
		set.Next()
		// Samples at 0, 15000, ..., 135000.
		for _, tc := range []struct {
			name  string
			next  int
			seeks []int64
			want  []int64 // -1: none
		}{
			{"to the first", 0, []int64{math.MinInt64}, []int64{0}},
			{"between", 0, []int64{16_000}, []int64{30_000}},
			{"never back", 5, []int64{0}, []int64{60_000}},
			{"forward twice", 1, []int64{31_000, 100_000}, []int64{45_000, 105_000}},
			{"past the end", 0, []int64{200_000, 0}, []int64{-1, -1}},
		} {
			t.Run(series.Labels().Get("__name__")+"/"+tc.name, func(t *testing.T) {
				it := set.At().Iterator(nil)
				for range tc.next {
					it.Next()
				}
				for i, ts := range tc.seeks {
					got := int64(-1)
					if it.Seek(ts) != chunkenc.ValNone {
						got = it.AtT()
					}
					if got != tc.want[i] {
						t.Fatalf("Seek(%d) at %d, want %d", ts, got, tc.want[i])
					}
				}
			})
		}
	}
}

// TestReadsAheadOnlyAsFarAsAsked checks that the series are read no further
// than the window past the last one asked for, and that Close ends the
// goroutines reading them.
func TestReadsAheadOnlyAsFarAsAsked(t *testing.T) {
	before := runtime.NumGoroutine()
	const n, ahead = 50, 3
	var reads atomic.Int64
	series := make([]storage.Series, n)
	for i := range series {
		series[i] = counting{floatSeries(fmt.Sprint("s", i), 100), &reads}
	}
	set := NewSeriesSet(newListSet(series...), math.MinInt64, math.MaxInt64, ahead, 2)
	var all []storage.Series
	for set.Next() {
		all = append(all, set.At())
	}
	if reads.Load() != 0 {
		t.Fatalf("%d series read before any was asked for", reads.Load())
	}
	if _, _, err := readAll(all[0], nil); err != nil {
		t.Fatal(err)
	}
	// Series 0 and the window after it, 1 to 3.
	waitIdle(t, set)
	if got := reads.Load(); got != 1+ahead {
		t.Errorf("%d series read, want %d", got, 1+ahead)
	}
	set.Close()
	wait.Until(t, 5*time.Second, "the readers to end", func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines after Close, %d before", n, before)
		}
		return nil
	})
}

// ramp is a series of n float samples made up as they are read.
type ramp struct {
	lset labels.Labels
	n    int
}

func (r ramp) Labels() labels.Labels { return r.lset }

func (r ramp) Iterator(chunkenc.Iterator) chunkenc.Iterator { return &rampIterator{n: r.n, i: -1} }

type rampIterator struct {
	chunkenc.Iterator // the methods not needed here
	n, i              int
}

func (it *rampIterator) Next() chunkenc.ValueType {
	if it.i++; it.i >= it.n {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (it *rampIterator) At() (int64, float64) { return int64(it.i), float64(it.i) }

func (it *rampIterator) AtT() int64 { return int64(it.i) }

func (it *rampIterator) Err() error { return nil }

// TestReadsAheadWithinMemory checks that long series are read ahead only
// until about a million samples wait to be asked for, however wide the
// window.
func TestReadsAheadWithinMemory(t *testing.T) {
	const n, ahead, long = 8, 8, 400_000
	var reads atomic.Int64
	series := make([]storage.Series, n)
	for i := range series {
		series[i] = counting{ramp{labels.FromStrings("i", fmt.Sprint(i)), long}, &reads}
	}
	set := NewSeriesSet(newListSet(series...), math.MinInt64, math.MaxInt64, ahead, 1)
	var all []storage.Series
	for set.Next() {
		all = append(all, set.At())
	}
	if _, _, err := readAll(all[0], nil); err != nil {
		t.Fatal(err)
	}
	// Series 0, then 1 to 3 ahead: 1.2M samples held, past the bound.
	waitIdle(t, set)
	if got := reads.Load(); got != 4 {
		t.Errorf("%d series read, want 4", got)
	}
	set.Close()
}

// TestCloseWithoutReading checks that a set whose series are never read
// starts no goroutine and closes at once.
func TestCloseWithoutReading(t *testing.T) {
	before := runtime.NumGoroutine()
	set := NewSeriesSet(newListSet(floatSeries("a", 10)), math.MinInt64, math.MaxInt64, 4, 4)
	for set.Next() {
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before any series was read, %d before the set", n, before)
	}
	set.Close()
}

// panicking is a series whose iterator panics after its third sample.
type panicking struct{ storage.Series }

func (s panicking) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return &panickingIterator{Iterator: s.Series.Iterator(nil)}
}

type panickingIterator struct {
	chunkenc.Iterator
	n int
}

func (p *panickingIterator) Next() chunkenc.ValueType {
	if p.n++; p.n > 3 {
		panic("broken chunk")
	}
	return p.Iterator.Next()
}

// TestPanicFailsTheSeries reads a series whose iterator panics, ahead on a
// reading goroutine and on the caller's: either way that series' iterator
// fails with the panic, the process lives, and the other series read whole.
func TestPanicFailsTheSeries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order []int // of the series read; the panicking one is 1
	}{
		{"read ahead", []int{0, 1, 2}},
		{"read by the caller", []int{1, 0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			series := []storage.Series{floatSeries("a", 10), panicking{floatSeries("b", 10)}, floatSeries("c", 10)}
			set := NewSeriesSet(newListSet(series...), math.MinInt64, math.MaxInt64, 2, 2)
			defer set.Close()
			var got []storage.Series
			for set.Next() {
				got = append(got, set.At())
			}
			for _, i := range tc.order {
				s, _, err := readAll(got[i], nil)
				if i != 1 {
					if err != nil || len(s) != 10 {
						t.Fatalf("series %d: %d samples, %v", i, len(s), err)
					}
					waitIdle(t, set) // the panicking series is read ahead, if it is after this one
					continue
				}
				if err == nil || !strings.Contains(err.Error(), "panic: broken chunk") || !strings.Contains(err.Error(), `"b"`) {
					t.Fatalf("panicking series: %v, want an error naming it and the panic", err)
				}
			}
		})
	}
}
