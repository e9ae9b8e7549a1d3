package xorchunk

import "github.com/tandem-metrics/tandem/pkg/floats"

// Iterator is a chunkenc.Iterator over one XOR chunk, which Reset decodes
// in full. Reuse it across chunks to decode without allocating.
type Iterator struct {
	floats.Iterator
	d Decoder
}

// NewIterator returns an iterator over the XOR chunk b.
func NewIterator(b []byte) *Iterator {
	it := &Iterator{}
	it.Reset(b)
	return it
}

// Reset decodes the XOR chunk b and positions the iterator before its first
// sample. After an error, the iterator reads the samples decoded before it,
// then reports it.
func (it *Iterator) Reset(b []byte) {
	err := it.d.Decode(b)
	it.Iterator.Reset(it.d.Samples, err)
}
