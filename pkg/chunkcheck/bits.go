package chunkcheck

import "io"

// bitReader reads a chunk's bit stream, most significant bit first, as
// Prometheus's chunk encodings write it.
type bitReader struct {
	b   []byte
	pos uint64 // bits read
}

// left returns how many bits are still to read.
func (r *bitReader) left() uint64 { return uint64(len(r.b))*8 - r.pos }

// bits reads n bits, n at most 64, into the low bits of the result.
func (r *bitReader) bits(n uint) (uint64, error) {
	if uint64(n) > r.left() {
		return 0, io.ErrUnexpectedEOF
	}
	var v uint64
	for range n {
		byt := r.b[r.pos/8]
		v = v<<1 | uint64(byt>>(7-r.pos%8)&1)
		r.pos++
	}
	return v, nil
}

// varbit reads a varbit-encoded value's width prefix and its bits.
func (r *bitReader) varbit() (bits uint64, width uint, err error) {
	ones := 0
	for ones < 8 {
		b, err := r.bits(1)
		if err != nil {
			return 0, 0, err
		}
		if b == 0 {
			break
		}
		ones++
	}
	width = varbitWidth(ones)
	bits, err = r.bits(width)
	return bits, width, err
}

// varbitUint reads an unsigned varbit value.
func (r *bitReader) varbitUint() (uint64, error) {
	v, _, err := r.varbit()
	return v, err
}

// varbitInt reads a signed varbit value: below 64 bits, values past half
// the width's range stand for negative ones.
func (r *bitReader) varbitInt() (int64, error) {
	v, width, err := r.varbit()
	if err != nil || width == 0 || width == 64 {
		return int64(v), err
	}
	if v > 1<<(width-1) {
		return int64(v) - 1<<width, nil
	}
	return int64(v), nil
}

// varbitWidth is the value width of Prometheus's varbit encoding for the
// number of 1 bits that prefix the value (up to 8, which need no 0 after
// them); no 1 bit at all is the value zero.
func varbitWidth(ones int) uint {
	switch ones {
	case 0:
		return 0
	case 1:
		return 3
	case 2:
		return 6
	case 3:
		return 9
	case 4:
		return 12
	case 5:
		return 18
	case 6:
		return 25
	case 7:
		return 56
	}
	return 64
}
