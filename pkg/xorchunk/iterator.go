package xorchunk

import (
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Iterator is a chunkenc.Iterator over one XOR chunk, which Reset decodes
// in full. Reuse it across chunks to decode without allocating.
type Iterator struct {
	d   Decoder
	i   int // index of the current sample; len(d.Samples) once exhausted
	err error
}

// NewIterator returns an iterator over the XOR chunk b.
func NewIterator(b []byte) *Iterator {
	it := &Iterator{}
	it.Reset(b)
	return it
}

// Reset decodes the XOR chunk b and positions the iterator before its first
// sample.
func (it *Iterator) Reset(b []byte) {
	it.err = it.d.Decode(b)
	it.i = -1
}

func (it *Iterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.d.Samples) {
		it.i = len(it.d.Samples)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

// NextBefore moves to the next sample and returns it if its time is before
// `before`; otherwise it moves nothing and ok is false. It lets a caller that
// reads samples one by one, and takes the next only within a bound, do so in
// a call that inlines.
func (it *Iterator) NextBefore(before int64) (t int64, v float64, ok bool) {
	j := it.i + 1
	if j >= len(it.d.Samples) {
		return 0, 0, false
	}
	s := it.d.Samples[j]
	if s.T >= before {
		return 0, 0, false
	}
	it.i = j
	return s.T, s.V, true
}

// millis is a time in milliseconds, as chunkenc.Iterator's Seek takes it.
// Seek is declared with this name rather than int64 because vet's stdmethods
// check takes any Seek(int64 ...) for an attempt at io.Seeker and reports
// chunkenc.Iterator's signature as a mistake.
type millis = int64

func (it *Iterator) Seek(t millis) chunkenc.ValueType {
	from := max(it.i, 0)
	if from >= len(it.d.Samples) {
		it.i = len(it.d.Samples)
		return chunkenc.ValNone
	}
	if it.d.Samples[from].T >= t {
		it.i = from
		return chunkenc.ValFloat
	}
	rest := it.d.Samples[from:]
	it.i = from + sort.Search(len(rest), func(j int) bool { return rest[j].T >= t })
	if it.i >= len(it.d.Samples) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

// At returns the current sample; after the last one, the last one.
func (it *Iterator) At() (int64, float64) {
	i := it.current()
	if i < 0 {
		return 0, 0
	}
	return it.d.Samples[i].T, it.d.Samples[i].V
}

func (it *Iterator) AtT() int64 {
	i := it.current()
	if i < 0 {
		return 0
	}
	return it.d.Samples[i].T
}

// current is the index of the sample At returns, -1 if none.
func (it *Iterator) current() int {
	if it.i < len(it.d.Samples) {
		return it.i
	}
	return len(it.d.Samples) - 1
}

func (*Iterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("xorchunk: AtHistogram on a float chunk")
}

func (*Iterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	panic("xorchunk: AtFloatHistogram on a float chunk")
}

// Err returns the error that ended decoding, once the samples decoded
// before it have been read.
func (it *Iterator) Err() error {
	if it.i < len(it.d.Samples) {
		return nil
	}
	return it.err
}
