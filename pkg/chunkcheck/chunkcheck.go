// Package chunkcheck looks at the raw chunks a store sends before anything
// decodes them, so that a chunk that cannot be read fails its store, named,
// instead of crashing the query or taking its memory.
//
// Prometheus's chunk iterators trust what a chunk says about itself: a
// histogram chunk's span lengths size the iterator's bucket buffers before a
// single bucket is read, so 144 bytes claiming 2^32-1 buckets make it
// allocate hundreds of gigabytes. The checker reads those counts first,
// itself, and refuses any that the chunk's own bytes cannot hold or that
// pass MaxHistogramBuckets.
package chunkcheck

import (
	"encoding/binary"
	"fmt"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// MaxHistogramBuckets bounds the buckets of one native histogram (positive
// and negative together), its spans on either side and its custom bounds.
// Prometheus's own limits for scraped histograms are a few hundred buckets;
// 65,536 leave room for any real one, and keep a chunk iterator's buffers at
// about 1.5 MiB.
const MaxHistogramBuckets = 1 << 16

// Header sizes: every encoding starts with a 2-byte sample count; the
// histogram encodings add a byte of flags.
const (
	xorHeaderSize       = 2
	histogramHeaderSize = 3
)

// Checker checks chunks. It keeps one chunk and one iterator per encoding,
// so checking allocates nothing per chunk. The zero value is ready to use;
// a Checker is not safe for concurrent use.
type Checker struct {
	chunks [chunkenc.EncFloatHistogram + 1]chunkenc.Chunk
	iters  [chunkenc.EncFloatHistogram + 1]chunkenc.Iterator
}

// Check returns why the chunk of encoding enc in data, said to span [mint,
// maxt], cannot be read, or nil. Past the header and the histogram layout,
// it decodes only the chunk's first sample, which must lie in the chunk's
// time range: garbage bytes almost never pass, and the cost is one sample
// per chunk, not a second decoding of everything.
func (k *Checker) Check(enc chunkenc.Encoding, data []byte, mint, maxt int64) error {
	if err := Layout(enc, data); err != nil {
		return err
	}
	var err error
	if k.chunks[enc] == nil {
		if k.chunks[enc], err = chunkenc.NewEmptyChunk(enc); err != nil {
			return err
		}
	}
	chk := k.chunks[enc]
	chk.Reset(data)
	if chk.NumSamples() == 0 {
		return nil
	}
	it := chk.Iterator(k.iters[enc])
	k.iters[enc] = it
	if it.Next() == chunkenc.ValNone {
		return fmt.Errorf("%s chunk [%d, %d]: first sample: %w", enc, mint, maxt, it.Err())
	}
	if t := it.AtT(); t < mint || t > maxt {
		return fmt.Errorf("%s chunk [%d, %d]: first sample at %d, outside the chunk's time range", enc, mint, maxt, t)
	}
	return nil
}

// Layout checks what a decoder of enc trusts before it reads a sample: the
// chunk's header and, for histograms, the bucket layout.
func Layout(enc chunkenc.Encoding, data []byte) error {
	switch enc {
	case chunkenc.EncXOR:
		if len(data) < xorHeaderSize {
			return fmt.Errorf("%s chunk of %d bytes, shorter than its header", enc, len(data))
		}
		return nil
	case chunkenc.EncHistogram, chunkenc.EncFloatHistogram:
		if len(data) < histogramHeaderSize {
			return fmt.Errorf("%s chunk of %d bytes, shorter than its header", enc, len(data))
		}
		if binary.BigEndian.Uint16(data) == 0 {
			return nil // no sample, so no layout is read
		}
		if err := histogramLayout(data[histogramHeaderSize:], enc == chunkenc.EncFloatHistogram); err != nil {
			return fmt.Errorf("%s chunk: %w", enc, err)
		}
		return nil
	}
	return fmt.Errorf("unknown chunk encoding %s", enc)
}

// histogramLayout reads a histogram chunk's layout as Prometheus's iterator
// does (zero threshold, schema, positive and negative spans, custom bounds),
// counting instead of collecting, and checks that the first sample the
// layout announces fits in what is left.
func histogramLayout(data []byte, float bool) error {
	r := bitReader{b: data}
	zt, err := r.bits(8)
	if err != nil {
		return fmt.Errorf("zero threshold: %w", err)
	}
	if zt == 255 { // a threshold that is no small power of two follows whole
		if _, err := r.bits(64); err != nil {
			return fmt.Errorf("zero threshold: %w", err)
		}
	}
	v, err := r.varbitInt()
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	schema := int32(v)
	if !histogram.IsKnownSchema(schema) {
		return histogram.UnknownSchemaError(schema)
	}
	var buckets uint64
	for _, side := range []string{"positive", "negative"} {
		n, backwards, err := r.spans()
		if err != nil {
			return fmt.Errorf("%s spans: %w", side, err)
		}
		// Prometheus reads a schema finer than it supports by merging
		// buckets, and panics on spans that go back.
		if backwards && schema > histogram.ExponentialSchemaMax {
			return fmt.Errorf("schema %d with %s spans going back: %w", schema, side, histogram.ErrHistogramSpanNegativeOffset)
		}
		buckets += n
	}
	if buckets > MaxHistogramBuckets {
		return fmt.Errorf("%d buckets, more than the limit of %d", buckets, MaxHistogramBuckets)
	}
	if histogram.IsCustomBucketsSchema(schema) {
		if err := r.customBounds(); err != nil {
			return fmt.Errorf("custom bounds: %w", err)
		}
	}
	// The first sample: a timestamp, the count, the zero count and the sum,
	// then a value per bucket, each at least a bit (a varbit zero) in an
	// integer histogram and 64 bits in a float one.
	need := 1 + 1 + 1 + 64 + buckets
	if float {
		need = 1 + 3*64 + 64*buckets
	}
	if left := r.left(); need > left {
		return fmt.Errorf("%d buckets need at least %d bits for the first sample, the chunk has %d left", buckets, need, left)
	}
	return nil
}

// spans reads one side's spans and returns how many buckets they cover,
// and whether a span after the first has a negative offset.
func (r *bitReader) spans() (buckets uint64, backwards bool, err error) {
	num, err := r.varbitUint()
	if err != nil {
		return 0, false, err
	}
	// As Prometheus's reader: a count that is negative as an int reads
	// no span at all.
	n := int(num)
	if n > MaxHistogramBuckets {
		return 0, false, fmt.Errorf("%d spans, more than the limit of %d", num, MaxHistogramBuckets)
	}
	for i := range max(n, 0) {
		length, err := r.varbitUint()
		if err != nil {
			return 0, false, err
		}
		offset, err := r.varbitInt()
		if err != nil {
			return 0, false, err
		}
		buckets += uint64(uint32(length))
		backwards = backwards || (i > 0 && int32(offset) < 0)
	}
	return buckets, backwards, nil
}

// customBounds reads past the custom bucket bounds.
func (r *bitReader) customBounds() error {
	num, err := r.varbitUint()
	if err != nil {
		return err
	}
	n := int(num)
	if n > MaxHistogramBuckets {
		return fmt.Errorf("%d bounds, more than the limit of %d", num, MaxHistogramBuckets)
	}
	for range max(n, 0) {
		b, err := r.varbitUint()
		if err != nil {
			return err
		}
		if b == 0 { // a bound that is no whole number of thousandths follows whole
			if _, err := r.bits(64); err != nil {
				return err
			}
		}
	}
	return nil
}
