// Package xorchunk decodes Prometheus XOR chunks a whole chunk at a time.
//
// The query reads most samples of every chunk it receives: PromQL steps
// through them, and the replica merge follows one replica sample by sample.
// Decoding a chunk in one tight loop into plain slices, and then serving the
// samples from those, costs far less per sample than a bit reader behind an
// interface call per field, and lets a seek within the chunk be a binary
// search instead of a decode.
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

// Decoder decodes XOR chunks. Its buffers are reused from chunk to chunk, so
// a Decoder decodes without allocating once it has seen the largest chunk.
type Decoder struct {
	buf     []byte
	Samples []floats.Sample
}

// Decode decodes every sample of the XOR chunk b into d.Samples, replacing
// what it held. On error it holds the samples decoded before it, as a chunk
// iterator would have returned them. A chunk whose times do not increase
// from sample to sample is an error too, so the samples' times always
// increase.
func (d *Decoder) Decode(b []byte) error {
	d.Samples = d.Samples[:0]
	if len(b) < headerSize {
		return fmt.Errorf("XOR chunk of %d bytes, shorter than its header", len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 {
		return nil
	}
	data := b[headerSize:]
	if need := len(data) + pad; cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	d.buf = d.buf[:len(data)+pad]
	copy(d.buf, data)
	clear(d.buf[len(data):])
	// Every sample after the first takes at least two bits: a chunk whose
	// header claims more than its data can hold fails before the end, and
	// is not given room for the samples it claims.
	room := min(n, 2+len(data)*4)
	if cap(d.Samples) < room {
		d.Samples = make([]floats.Sample, 0, room)
	}

	r := bitReader{b: d.buf, end: uint(len(data)) * 8}
	t, err := r.varint()
	if err != nil {
		return err
	}
	v := r.read64()
	if r.pos > r.end {
		return io.ErrUnexpectedEOF
	}
	d.Samples = append(d.Samples, floats.Sample{T: t, F: math.Float64frombits(v)})
	if n == 1 {
		return nil
	}

	d.Samples, err = decodeRest(d.Samples, n, r, t, v)
	return err
}

// decodeRest decodes the samples after the first, until s holds n, given
// the reader positioned after the first, its time t and its value's bits v.
// It is one function with its state in locals, and reads each sample's
// fields from one 64-bit window where they fit, because this loop is where
// the query spends its time in the merge.
func decodeRest(s []floats.Sample, n int, r bitReader, t int64, v uint64) ([]floats.Sample, error) {
	buf, pos, end := r.b, r.pos, r.end
	var (
		delta             uint64
		leading, trailing uint8
	)
	for len(s) < n {
		w := window(buf, pos)
		switch {
		case len(s) == 1:
			// The second sample's time is a uvarint delta from the first.
			r.pos = pos
			var err error
			if delta, err = r.uvarint(); err != nil {
				return s, err
			}
			pos = r.pos
			w = window(buf, pos)
		case w>>63 == 0:
			// The same spacing as before: the common case.
			pos++
			w <<= 1
		default:
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
			return s, notIncreasing(len(s), t, prev)
		}
		s = append(s, floats.Sample{T: t, F: math.Float64frombits(v)})
	}
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
