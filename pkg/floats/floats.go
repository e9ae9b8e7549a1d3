// Package floats holds float samples in a slice and reads them back as a
// chunkenc.Iterator: the query decodes chunks and merges replicas into such
// slices, and PromQL reads them without a call per field.
package floats

import (
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Sample is one float sample.
type Sample struct {
	T int64
	F float64
}

// Iterator is a chunkenc.Iterator over samples in increasing time order,
// then the error that ended them, if any.
type Iterator struct {
	samples []Sample
	i       int // index of the current sample; len(samples) once exhausted
	err     error
}

// Reset makes the iterator read samples, then err, from before the first.
func (it *Iterator) Reset(samples []Sample, err error) {
	*it = Iterator{samples: samples, i: -1, err: err}
}

// Samples returns the samples being read, whose memory the caller may reuse
// once it no longer reads them.
func (it *Iterator) Samples() []Sample { return it.samples }

func (it *Iterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.samples) {
		it.i = len(it.samples)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

// NextBefore moves to the next sample and returns it if its time is before
// `before`; otherwise it moves nothing and ok is false. It lets a caller that
// reads samples one by one, and takes the next only within a bound, do so in
// a call that inlines.
func (it *Iterator) NextBefore(before int64) (t int64, f float64, ok bool) {
	j := it.i + 1
	if j >= len(it.samples) {
		return 0, 0, false
	}
	s := it.samples[j]
	if s.T >= before {
		return 0, 0, false
	}
	it.i = j
	return s.T, s.F, true
}

// millis is a time in milliseconds, as chunkenc.Iterator's Seek takes it.
// Seek is declared with this name rather than int64 because vet's stdmethods
// check takes any Seek(int64 ...) for an attempt at io.Seeker and reports
// chunkenc.Iterator's signature as a mistake.
type millis = int64

func (it *Iterator) Seek(t millis) chunkenc.ValueType {
	from := max(it.i, 0)
	if from >= len(it.samples) {
		it.i = len(it.samples)
		return chunkenc.ValNone
	}
	if it.samples[from].T >= t {
		it.i = from
		return chunkenc.ValFloat
	}
	rest := it.samples[from:]
	it.i = from + sort.Search(len(rest), func(j int) bool { return rest[j].T >= t })
	if it.i >= len(it.samples) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

// At returns the current sample; after the last one, the last one; before
// the first, the zero sample.
func (it *Iterator) At() (int64, float64) {
	i := it.current()
	if i < 0 {
		return 0, 0
	}
	return it.samples[i].T, it.samples[i].F
}

func (it *Iterator) AtT() int64 {
	t, _ := it.At()
	return t
}

// Last reports whether no sample follows the current one.
func (it *Iterator) Last() bool { return it.i >= len(it.samples)-1 }

// current is the index of the sample At returns, -1 if none.
func (it *Iterator) current() int {
	if it.i < len(it.samples) {
		return it.i
	}
	return len(it.samples) - 1
}

func (*Iterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("floats: AtHistogram on float samples")
}

func (*Iterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	panic("floats: AtFloatHistogram on float samples")
}

// Err returns the error that ended the samples, once they have been read.
func (it *Iterator) Err() error {
	if it.i < len(it.samples) {
		return nil
	}
	return it.err
}
