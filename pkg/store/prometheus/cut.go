package prometheus

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/chunkcheck"
	"github.com/tandem-metrics/tandem/pkg/xorchunk"
)

// cutter cuts the chunks of a remote read to the read's range, as
// Prometheus does for hints that span just that (see readStart and
// readStop): a chunk that reaches outside is re-encoded with its samples
// in the range, into the same bytes Prometheus's cut would give, and one
// that lies outside is dropped. It decodes float chunks with xorchunk, a
// whole chunk in one loop, where Prometheus steps its bit reader sample by
// sample through the chunk.
type cutter struct {
	from, to int64             // math.MinInt64 and math.MaxInt64: nothing is cut
	xor      xorchunk.Iterator // reused across float chunks
	it       chunkenc.Iterator // reused across histogram chunks
}

// noCut is a cutter that leaves every chunk as it is.
func noCut() cutter { return cutter{from: math.MinInt64, to: math.MaxInt64} }

// cut returns c without its samples outside [from, to], and false if none
// are left. A chunk it re-encodes has data of its own.
func (k *cutter) cut(c prompb.Chunk) (prompb.Chunk, bool, error) {
	if c.MinTimeMs >= k.from && c.MaxTimeMs <= k.to {
		return c, true, nil
	}
	if c.MaxTimeMs < k.from || c.MinTimeMs > k.to {
		return c, false, nil
	}
	var (
		cut cutChunk
		err error
	)
	switch c.Type {
	case prompb.Chunk_XOR:
		cut, err = k.cutXOR(c.Data)
	case prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM:
		cut, err = k.cutHistograms(c)
	default:
		return c, false, fmt.Errorf("chunk encoding %v", c.Type)
	}
	if err != nil || cut.chunk == nil {
		return c, false, err
	}
	return prompb.Chunk{MinTimeMs: cut.first, MaxTimeMs: cut.last, Type: c.Type, Data: cut.chunk.Bytes()}, true, nil
}

// cutChunk is a chunk re-encoded with the samples in the cut's range, and
// the times of its first and last; chunk is nil if there are none.
type cutChunk struct {
	chunk       chunkenc.Chunk
	first, last int64
}

// add notes a sample at t appended to the chunk.
func (c *cutChunk) add(t int64) {
	if c.first == math.MinInt64 {
		c.first = t
	}
	c.last = t
}

// cutXOR re-encodes the samples of an XOR chunk in [k.from, k.to].
func (k *cutter) cutXOR(data []byte) (cutChunk, error) {
	k.xor.Reset(data)
	if k.xor.Seek(k.from) == chunkenc.ValNone {
		return cutChunk{}, k.xor.Err()
	}
	out := chunkenc.NewXORChunk()
	app, err := out.Appender()
	if err != nil {
		return cutChunk{}, err
	}
	cut := cutChunk{first: math.MinInt64}
	for vt := chunkenc.ValFloat; vt == chunkenc.ValFloat; vt = k.xor.Next() {
		t, v := k.xor.At()
		if t > k.to {
			if err := drain(&k.xor, t); err != nil {
				return cutChunk{}, err
			}
			break
		}
		app.Append(t, v)
		cut.add(t)
	}
	if err := k.xor.Err(); err != nil || cut.first == math.MinInt64 {
		return cutChunk{}, err
	}
	cut.chunk = out
	return cut, nil
}

// cutHistograms re-encodes the samples of a histogram chunk in [k.from,
// k.to], appended one by one to a new chunk of the same kind, as Prometheus
// does.
func (k *cutter) cutHistograms(c prompb.Chunk) (cutChunk, error) {
	enc, want := chunkenc.EncHistogram, chunkenc.ValHistogram
	if c.Type == prompb.Chunk_FLOAT_HISTOGRAM {
		enc, want = chunkenc.EncFloatHistogram, chunkenc.ValFloatHistogram
	}
	// Prometheus's iterator sizes its buckets from the chunk's layout
	// before it reads a sample: a broken layout would have it allocate
	// without bound.
	if err := chunkcheck.Layout(enc, c.Data); err != nil {
		return cutChunk{}, err
	}
	in, err := chunkenc.FromData(enc, c.Data)
	if err != nil {
		return cutChunk{}, err
	}
	out, err := chunkenc.NewEmptyChunk(enc)
	if err != nil {
		return cutChunk{}, err
	}
	app, err := out.Appender()
	if err != nil {
		return cutChunk{}, err
	}
	cut := cutChunk{first: math.MinInt64}
	k.it = in.Iterator(k.it)
	// Prometheus's histogram iterators take the times as they come, and
	// the samples kept must be the range's whatever their order: they must
	// increase from the cut's first sample to the chunk's end.
	prev := int64(math.MinInt64)
	for vt := k.it.Seek(k.from); vt != chunkenc.ValNone; vt = k.it.Next() {
		if vt != want {
			return cutChunk{}, fmt.Errorf("a %v sample in a %v chunk", vt, enc)
		}
		if t := k.it.AtT(); t <= prev {
			return cutChunk{}, timesNotIncreasing(prev, t)
		} else if t > k.to {
			if err := drain(k.it, t); err != nil {
				return cutChunk{}, err
			}
			break
		}
		prev = k.it.AtT()
		var t int64
		if want == chunkenc.ValHistogram {
			var h *histogram.Histogram
			t, h = k.it.AtHistogram(nil)
			_, _, app, err = app.AppendHistogram(nil, t, h, true)
		} else {
			var fh *histogram.FloatHistogram
			t, fh = k.it.AtFloatHistogram(nil)
			_, _, app, err = app.AppendFloatHistogram(nil, t, fh, true)
		}
		if err != nil {
			return cutChunk{}, err
		}
		cut.add(t)
	}
	if err := k.it.Err(); err != nil || cut.first == math.MinInt64 {
		return cutChunk{}, err
	}
	cut.chunk = out
	return cut, nil
}

// drain reads it to the end from a sample at prev, so that a chunk broken
// after the samples kept is an error too, as it is to the query when
// nothing is cut.
func drain(it chunkenc.Iterator, prev int64) error {
	for it.Next() != chunkenc.ValNone {
		t := it.AtT()
		if t <= prev {
			return timesNotIncreasing(prev, t)
		}
		prev = t
	}
	return it.Err()
}

func timesNotIncreasing(prev, t int64) error {
	return fmt.Errorf("sample at %d after one at %d: times do not increase", t, prev)
}
