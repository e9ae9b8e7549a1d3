package xorchunk

import (
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

// leanBatch is how many samples a lean Iterator decodes at a time: a
// batch keeps it small, and still decodes in a tight loop.
const leanBatch = 32

// Iterator is a chunkenc.Iterator over one XOR chunk, decoded whole or, if
// lean, a batch at a time. Reuse it across chunks to decode without
// allocating.
type Iterator struct {
	floats.Iterator
	d     decoder
	batch int // samples decoded at a time; the whole chunk if 0
}

// NewIterator returns an iterator over the XOR chunk b, decoded whole.
func NewIterator(b []byte) *Iterator {
	it := &Iterator{}
	it.Reset(b)
	return it
}

// Reset makes the iterator read the XOR chunk b from before its first
// sample, decoded whole: the fastest, for a reader that reads one chunk at
// a time. After an error, the iterator reads the samples decoded before
// it, then reports it.
func (it *Iterator) Reset(b []byte) { it.reset(b, 0) }

// ResetLean is Reset for a reader that keeps many iterators open at once,
// as an engine that opens one per series for the whole query: the chunk is
// decoded a few samples at a time, so that the iterator holds little.
func (it *Iterator) ResetLean(b []byte) { it.reset(b, leanBatch) }

// ResetFew is Reset for a reader of a chunk's first few samples: the chunk
// is decoded n samples at a time.
func (it *Iterator) ResetFew(b []byte, n int) { it.reset(b, max(n, 1)) }

func (it *Iterator) reset(b []byte, batch int) {
	it.batch = batch
	n, err := it.d.open(b)
	if err == nil && n > 0 {
		room := it.batch + 1 // a batch and the sample kept from the one before
		if it.batch == 0 {
			// Every sample after the first takes at least two bits: a
			// chunk whose header claims more than its data can hold fails
			// before the end, and is not given room for the samples it
			// claims.
			room, it.batch = min(n, 2+(len(b)-headerSize)*4), n
		}
		if cap(it.d.samples) < room {
			it.d.samples = make([]floats.Sample, 0, room)
		}
		err = it.d.next(it.batch)
	}
	it.Iterator.Reset(it.d.samples, err)
}

func (it *Iterator) Next() chunkenc.ValueType {
	if typ := it.Iterator.Next(); typ != chunkenc.ValNone || !it.NextBatch() {
		return typ
	}
	return it.Iterator.Next()
}

// millis is a time in milliseconds; see floats.
type millis = int64

func (it *Iterator) Seek(t millis) chunkenc.ValueType {
	for {
		if typ := it.Iterator.Seek(t); typ != chunkenc.ValNone || !it.NextBatch() {
			return typ
		}
	}
}

// NextBatch decodes the chunk's next batch in place of the one read, if
// that is read to its current last sample and the chunk has more, and
// reports whether it did. The batch's last sample, the current one, stays
// in front of the next, so that At always returns the current sample. A
// reader that calls the embedded floats.Iterator's NextBefore calls it
// where that reports no sample.
func (it *Iterator) NextBatch() bool {
	if !it.d.more() || !it.Iterator.Last() {
		return false
	}
	n := len(it.d.samples)
	if n > 0 {
		it.d.samples[0] = it.d.samples[n-1]
		it.d.samples = it.d.samples[:1]
	}
	err := it.d.next(it.batch)
	it.Iterator.Reset(it.d.samples, err)
	if n > 0 {
		it.Iterator.Next() // to the current sample
	}
	return true
}
