// Package xorchunk decodes Prometheus XOR chunks in one tight loop: a whole
// chunk at a time, or for a lean iterator a batch of samples at a time.
//
// The query reads most samples of every chunk it receives: PromQL steps
// through them, and the replica merge follows one replica sample by sample.
// Decoding in one tight loop into a plain slice, and then serving the
// samples from that, costs far less per sample than a bit reader behind an
// interface call per field, and lets a seek within what is decoded be a
// binary search. Lean iterators are for engines that keep one per series
// open for the whole query, thousands at once.
package xorchunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

// headerSize is the chunk header: the number of samples, big-endian.
const headerSize = 2

// pad is how far past the end of the data one sample's reads may look
// before the decoder notices that the data ended: a sample is at most 146
// bits (a 4-bit and a 64-bit time, 13 bits of value header and a 64-bit
// value), and every read loads 8 bytes. The data is copied into a buffer
// with this many zero bytes after it, so reads need no bounds checks of
// their own.
const pad = 32

var errOverflow = errors.New("varint overflows a 64-bit integer")

// decoder decodes XOR chunks a number of samples at a time. Its buffers are
// reused from chunk to chunk, so it decodes without allocating once it has
// seen the largest chunk. A chunk whose times do not increase from sample
// to sample is an error, so the samples' times always increase.
type decoder struct {
	buf     []byte
	samples []floats.Sample
	c       cursor
}

// cursor is how far decoding a chunk has come: the position of the next
// sample and what it is read against.
type cursor struct {
	pos, end          uint // in bits of buf
	t                 int64
	v, delta          uint64
	leading, trailing uint8
	i, n              int // samples decoded, and in the chunk
}

// open makes b the chunk to decode, from its first sample on, with
// d.samples empty, and returns how many samples its header claims.
func (d *decoder) open(b []byte) (int, error) {
	d.samples, d.c = d.samples[:0], cursor{}
	if len(b) < headerSize {
		return 0, fmt.Errorf("XOR chunk of %d bytes, shorter than its header", len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return 0, nil
	}
	data := b[headerSize:]
	if need := len(data) + pad; cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	d.buf = d.buf[:len(data)+pad]
	copy(d.buf, data)
	clear(d.buf[len(data):])
	d.c = cursor{end: uint(len(data)) * 8, n: n}
	return n, nil
}

// more reports whether the chunk has samples left to decode.
func (d *decoder) more() bool { return d.c.i < d.c.n }

// next appends up to max more samples of the chunk to d.samples. After an
// error the chunk has none left.
func (d *decoder) next(max int) error {
	if err := d.nextHead(&max); err != nil {
		d.c.i = d.c.n
		return err
	}
	if max <= 0 || !d.more() {
		return nil
	}
	start := len(d.samples)
	var err error
	d.samples, err = decodeRest(d.samples, d.buf, &d.c, start+min(max, d.c.n-d.c.i))
	i := d.c.i + len(d.samples) - start
	if e, ok := err.(timesNotIncreasing); ok {
		err = notIncreasing(i, e.t, e.prev)
	}
	if d.c.i = i; err != nil {
		d.c.i = d.c.n
	}
	return err
}

// timesNotIncreasing is decodeRest's error for a sample at t, not after the
// one before it at prev: next, which knows the sample's index, reports it.
type timesNotIncreasing struct{ t, prev int64 }

func (e timesNotIncreasing) Error() string { return notIncreasing(-1, e.t, e.prev).Error() }

// nextHead decodes the chunk's first two samples, if they are next and max
// allows, counting them off max: they are written unlike the rest, and
// reading them here keeps decodeRest's loop to one form.
func (d *decoder) nextHead(max *int) error {
	c := &d.c
	for ; *max > 0 && c.i < min(2, c.n); *max-- {
		r := bitReader{b: d.buf, pos: c.pos, end: c.end}
		t, v := c.t, c.v
		if c.i == 0 {
			var err error
			if t, err = r.varint(); err != nil {
				return err
			}
			v = r.read64()
		} else {
			delta, err := r.uvarint()
			if err != nil {
				return err
			}
			if t += int64(delta); t <= c.t {
				return notIncreasing(1, t, c.t)
			}
			c.delta = delta
			v = r.xorValue(v, &c.leading, &c.trailing)
		}
		if r.pos > r.end {
			return io.ErrUnexpectedEOF
		}
		d.samples = append(d.samples, floats.Sample{T: t, F: math.Float64frombits(v)})
		c.pos, c.t, c.v = r.pos, t, v
		c.i++
	}
	return nil
}

// decodeRest appends samples after the second to s until it holds limit,
// from where c stands, and leaves c after the last. It is one function with
// its state in locals, and reads each sample's fields from one 64-bit
// window where they fit, because this loop is where the query spends its
// time in the merge.
func decodeRest(s []floats.Sample, buf []byte, c *cursor, limit int) ([]floats.Sample, error) {
	pos, end, t, v, delta, leading, trailing := c.pos, c.end, c.t, c.v, c.delta, c.leading, c.trailing
	r := bitReader{b: buf, end: end}
	for len(s) < limit {
		w := window(buf, pos)
		if w>>63 == 0 {
			// The same spacing as before: the common case.
			pos++
			w <<= 1
		} else {
			var dod int64
			switch ones := bits.LeadingZeros64(^w); {
			case ones == 1:
				dod = signed(w<<2>>(64-14), 14)
				pos += 2 + 14
			case ones == 2:
				dod = signed(w<<3>>(64-17), 17)
				pos += 3 + 17
			case ones == 3:
				dod = signed(w<<4>>(64-20), 20)
				pos += 4 + 20
			default:
				r.pos = pos + 4
				dod = int64(r.read64())
				pos = r.pos
			}
			delta = uint64(int64(delta) + dod)
			w = window(buf, pos)
		}
		prev := t
		t += int64(delta)

		// At least 56 bits of w are valid.
		switch {
		case w>>63 == 0:
			pos++
		case w>>62&1 == 0:
			sig := uint(64 - leading - trailing)
			if sig <= 54 {
				v ^= w << 2 >> (64 - sig) << trailing
				pos += 2 + sig
				break
			}
			r.pos = pos + 2
			v ^= r.readN(sig) << trailing
			pos = r.pos
		default:
			leading = uint8(w >> 57 & 0x1f)
			sig := uint8(w >> 51 & 0x3f)
			if sig == 0 {
				sig = 64
			}
			trailing = 64 - leading - sig
			if sig <= 43 {
				v ^= w << 13 >> (64 - uint(sig)) << trailing
				pos += 13 + uint(sig)
				break
			}
			r.pos = pos + 13
			v ^= r.readN(uint(sig)) << trailing
			pos = r.pos
		}
		if pos > end {
			return s, io.ErrUnexpectedEOF
		}
		if t <= prev {
			return s, timesNotIncreasing{t, prev}
		}
		s = append(s, floats.Sample{T: t, F: math.Float64frombits(v)})
	}
	c.pos, c.t, c.v, c.delta, c.leading, c.trailing = pos, t, v, delta, leading, trailing
	return s, nil
}

// window is the 64 bits of buf from bit pos on, of which at least 57 come
// from buf: the rest are zeros shifted in.
func window(buf []byte, pos uint) uint64 {
	return binary.BigEndian.Uint64(buf[pos>>3:]) << (pos & 7)
}

// notIncreasing is the error for a sample that is not later than the one
// before it. Prometheus never writes such a chunk, and readers of a chunk
// may rely on its times increasing.
func notIncreasing(i int, t, prev int64) error {
	return fmt.Errorf("XOR chunk: sample %d at %d is not after the one before it at %d", i, t, prev)
}

// signed reads the sz-bit field x as two's complement, except that the
// largest positive value, 1<<(sz-1), is written as itself.
func signed(x uint64, sz uint) int64 {
	if x > 1<<(sz-1) {
		return int64(x) - 1<<sz
	}
	return int64(x)
}

// bitReader reads big-endian bit fields from b, whose last pad bytes are
// zeros that only stand for reads past the data: the caller checks pos
// against end after each sample.
type bitReader struct {
	b   []byte
	pos uint // in bits
	end uint // bits of data
}

// read returns the next n bits, n at most 57.
func (r *bitReader) read(n uint) uint64 {
	w := window(r.b, r.pos)
	r.pos += n
	return w >> (64 - n)
}

// read64 returns the next 64 bits.
func (r *bitReader) read64() uint64 {
	hi := r.read(32)
	return hi<<32 | r.read(32)
}

// readN returns the next n bits, n at most 64.
func (r *bitReader) readN(n uint) uint64 {
	if n <= 56 {
		return r.read(n)
	}
	hi := r.read(n - 32)
	return hi<<32 | r.read(32)
}

// xorValue reads a value written as its XOR with v, the value before,
// given the leading and trailing zero counts of the XOR before, which it
// updates where the value brings new ones: what decodeRest reads from its
// window, bit by bit.
func (r *bitReader) xorValue(v uint64, leading, trailing *uint8) uint64 {
	switch {
	case r.read(1) == 0:
		return v
	case r.read(1) == 0:
		return v ^ r.readN(uint(64-*leading-*trailing))<<*trailing
	}
	*leading = uint8(r.read(5))
	sig := uint8(r.read(6))
	if sig == 0 {
		sig = 64
	}
	*trailing = 64 - *leading - sig
	return v ^ r.readN(uint(sig))<<*trailing
}

// uvarint reads a varint of whole bytes, as encoding/binary writes it.
func (r *bitReader) uvarint() (uint64, error) {
	var x uint64
	var s uint
	for i := range binary.MaxVarintLen64 {
		if r.pos+8 > r.end {
			if i == 0 {
				return 0, io.EOF
			}
			return 0, io.ErrUnexpectedEOF
		}
		b := r.read(8)
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errOverflow
			}
			return x | b<<s, nil
		}
		x |= (b & 0x7f) << s
		s += 7
	}
	return 0, errOverflow
}

func (r *bitReader) varint() (int64, error) {
	ux, err := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x, err
}
