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
	i   int // index of the current sample; len(d.T) once exhausted
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
	if it.i+1 >= len(it.d.T) {
		it.i = len(it.d.T)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

func (it *Iterator) Seek(t int64) chunkenc.ValueType {
	from := max(it.i, 0)
	if from >= len(it.d.T) {
		it.i = len(it.d.T)
		return chunkenc.ValNone
	}
	if it.d.T[from] >= t {
		it.i = from
		return chunkenc.ValFloat
	}
	rest := it.d.T[from:]
	it.i = from + sort.Search(len(rest), func(j int) bool { return rest[j] >= t })
	if it.i >= len(it.d.T) {
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
	return it.d.T[i], it.d.V[i]
}

func (it *Iterator) AtT() int64 {
	i := it.current()
	if i < 0 {
		return 0
	}
	return it.d.T[i]
}

// current is the index of the sample At returns, -1 if none.
func (it *Iterator) current() int {
	if it.i < len(it.d.T) {
		return it.i
	}
	return len(it.d.T) - 1
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
	if it.i < len(it.d.T) {
		return nil
	}
	return it.err
}
