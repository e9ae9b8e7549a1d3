package prometheus

import (
	"fmt"
	"math"

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
	var it chunkenc.Iterator
	switch c.Type {
	case prompb.Chunk_XOR:
		k.xor.Reset(c.Data)
		it = &k.xor
	case prompb.Chunk_HISTOGRAM, prompb.Chunk_FLOAT_HISTOGRAM:
		enc := chunkenc.EncHistogram
		if c.Type == prompb.Chunk_FLOAT_HISTOGRAM {
			enc = chunkenc.EncFloatHistogram
		}
		// Prometheus's iterator sizes its buckets from the chunk's layout
		// before it reads a sample: a broken layout would have it allocate
		// without bound.
		if err := chunkcheck.Layout(enc, c.Data); err != nil {
			return c, false, err
		}
		in, err := chunkenc.FromData(enc, c.Data)
		if err != nil {
			return c, false, err
		}
		k.it = in.Iterator(k.it)
		it = k.it
	default:
		return c, false, fmt.Errorf("chunk encoding %v", c.Type)
	}
	data, first, last, err := k.reencode(it)
	if err != nil || data == nil {
		return c, false, err
	}
	return prompb.Chunk{MinTimeMs: first, MaxTimeMs: last, Type: c.Type, Data: data}, true, nil
}

// reencode appends the samples of it in [k.from, k.to] one by one to a new
// chunk of their encoding, as Prometheus does when it cuts, and returns its
// bytes and the times of its first and last sample; nil if there are none.
// The samples' times must increase from the first kept to the chunk's end:
// xorchunk checks that of a float chunk, but Prometheus's histogram
// iterators take the times as they come, and the samples kept must be the
// range's whatever their order.
func (k *cutter) reencode(it chunkenc.Iterator) (data []byte, first, last int64, err error) {
	var (
		out chunkenc.Chunk
		app chunkenc.Appender
	)
	for vt := it.Seek(k.from); vt != chunkenc.ValNone; vt = it.Next() {
		t := it.AtT()
		if out == nil {
			if out, err = chunkenc.NewEmptyChunk(vt.ChunkEncoding()); err != nil {
				return nil, 0, 0, err
			}
			if app, err = out.Appender(); err != nil {
				return nil, 0, 0, err
			}
			first = t
		} else if t <= last {
			return nil, 0, 0, timesNotIncreasing(last, t)
		} else if vt.ChunkEncoding() != out.Encoding() {
			return nil, 0, 0, fmt.Errorf("a %v sample in a %v chunk", vt, out.Encoding())
		}
		if t > k.to {
			if err := drain(it, t); err != nil {
				return nil, 0, 0, err
			}
			break
		}
		switch vt {
		case chunkenc.ValFloat:
			_, v := it.At()
			app.Append(t, v)
		case chunkenc.ValHistogram:
			_, h := it.AtHistogram(nil)
			_, _, app, err = app.AppendHistogram(nil, t, h, true)
		case chunkenc.ValFloatHistogram:
			_, fh := it.AtFloatHistogram(nil)
			_, _, app, err = app.AppendFloatHistogram(nil, t, fh, true)
		}
		if err != nil {
			return nil, 0, 0, err
		}
		last = t
	}
	if err := it.Err(); err != nil || out == nil || out.NumSamples() == 0 {
		return nil, 0, 0, err
	}
	return out.Bytes(), first, last, nil
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
