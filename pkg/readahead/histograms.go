package readahead

import (
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// histogramWeight is what a histogram sample read ahead counts against
// maxHeld, in float samples: a generous bound of its size with a dozen
// buckets, its struct, spans and buckets each allocated apart. With 2 CPUs
// a day of a native histogram at 15 s is then read about three series
// ahead, which keeps PromQL busy.
const histogramWeight = 64

// histogramSample is one histogram sample read ahead. Reading ahead decodes
// every histogram of a series into one of these, which is most of what
// PromQL spends on native histograms, so it runs on another core as floats
// do.
type histogramSample struct {
	T int64
	H *histogram.FloatHistogram
}

// appendHistogram appends the histogram at it's head, of type typ, to hs,
// decoding it into the histogram an earlier read left in hs's spare
// capacity, if any. An integer histogram is decoded into *scratch first:
// not every iterator converts one to floats itself.
func appendHistogram(hs []histogramSample, it chunkenc.Iterator, typ chunkenc.ValueType, scratch **histogram.Histogram) []histogramSample {
	n := len(hs)
	if n < cap(hs) {
		hs = hs[:n+1]
	} else {
		hs = append(hs, histogramSample{})
	}
	h := hs[n].H
	if h == nil {
		// Never nil to the iterator: given nil, chunk iterators may return
		// their own buffer, which the next sample overwrites.
		h = &histogram.FloatHistogram{}
	}
	var t int64
	if typ == chunkenc.ValHistogram {
		if *scratch == nil {
			*scratch = &histogram.Histogram{}
		}
		t, *scratch = it.AtHistogram(*scratch)
		h = (*scratch).ToFloat(h)
	} else {
		t, h = it.AtFloatHistogram(h)
	}
	hs[n] = histogramSample{T: t, H: h}
	return hs
}

// histogramIterator is a chunkenc.Iterator over histogram samples in
// increasing time order, then the error that ended them, if any. It hands
// out copies: the samples' histograms are decoded into again once the
// iterator is reused.
type histogramIterator struct {
	samples []histogramSample
	i       int // index of the current sample; len(samples) once exhausted
	err     error
}

func (it *histogramIterator) reset(samples []histogramSample, err error) {
	*it = histogramIterator{samples: samples, i: -1, err: err}
}

func (it *histogramIterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.samples) {
		it.i = len(it.samples)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloatHistogram
}

func (it *histogramIterator) Seek(t millis) chunkenc.ValueType {
	if it.i >= len(it.samples) {
		return chunkenc.ValNone
	}
	from := max(it.i, 0)
	if it.i >= 0 && it.samples[it.i].T >= t {
		return chunkenc.ValFloatHistogram
	}
	it.i = from + sort.Search(len(it.samples)-from, func(j int) bool { return it.samples[from+j].T >= t })
	if it.i >= len(it.samples) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloatHistogram
}

// At is not to be called: the samples are histograms.
func (it *histogramIterator) At() (int64, float64) { return it.AtT(), 0 }

// AtHistogram is not to be called: the samples are float histograms, as
// chunkenc's float histogram iterator says by panicking.
func (*histogramIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("readahead: AtHistogram on float histogram samples")
}

func (it *histogramIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	s := it.samples[it.current()]
	if fh == nil {
		return s.T, s.H.Copy()
	}
	s.H.CopyTo(fh)
	return s.T, fh
}

// AtT returns the current sample's time; after the last one, the last one's.
func (it *histogramIterator) AtT() int64 {
	if i := it.current(); i >= 0 {
		return it.samples[i].T
	}
	return 0
}

// current is the index of the current sample, -1 if none.
func (it *histogramIterator) current() int {
	if it.i < len(it.samples) {
		return it.i
	}
	return len(it.samples) - 1
}

func (it *histogramIterator) Err() error {
	if it.i >= len(it.samples) {
		return it.err
	}
	return nil
}

// millis is a time in milliseconds, as chunkenc.Iterator's Seek takes it,
// named so that vet does not take Seek for io.Seeker's.
type millis = int64
