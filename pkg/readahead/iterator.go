package readahead

import (
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// sample is one float sample read ahead.
type sample struct {
	t int64
	f float64
}

// iterator is a chunkenc.Iterator over samples read ahead, then err.
type iterator struct {
	samples []sample
	i       int // of the current sample; len(samples) once exhausted
	err     error
}

// newIterator returns an iterator over samples, reusing it if not nil.
func newIterator(it *iterator, samples []sample, err error) *iterator {
	if it == nil {
		it = &iterator{}
	}
	*it = iterator{samples: samples, i: -1, err: err}
	return it
}

func (it *iterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.samples) {
		it.i = len(it.samples)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

// millis is a time in milliseconds, as chunkenc.Iterator's Seek takes it.
// Seek is declared with this name rather than int64 because vet's stdmethods
// check takes any Seek(int64 ...) for an attempt at io.Seeker and reports
// chunkenc.Iterator's signature as a mistake.
type millis = int64

func (it *iterator) Seek(t millis) chunkenc.ValueType {
	from := max(it.i, 0)
	if from >= len(it.samples) {
		it.i = len(it.samples)
		return chunkenc.ValNone
	}
	if it.samples[from].t < t {
		rest := it.samples[from:]
		from += sort.Search(len(rest), func(j int) bool { return rest[j].t >= t })
	}
	it.i = from
	if from >= len(it.samples) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

// At returns the current sample; before the first or after the last, the
// zero sample.
func (it *iterator) At() (int64, float64) {
	if uint(it.i) >= uint(len(it.samples)) {
		return 0, 0
	}
	s := it.samples[it.i]
	return s.t, s.f
}

func (it *iterator) AtT() int64 {
	t, _ := it.At()
	return t
}

func (*iterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("readahead: AtHistogram on a float series")
}

func (*iterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	panic("readahead: AtFloatHistogram on a float series")
}

// Err returns the error that ended reading the series, once its samples
// have been read.
func (it *iterator) Err() error {
	if it.i < len(it.samples) {
		return nil
	}
	return it.err
}
