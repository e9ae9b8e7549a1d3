// Package pbwire walks the fields of protobuf messages in their wire format,
// for the few hot messages whose generated decoders allocate or copy more
// than their readers keep.
//
// It accepts exactly the encodings that gogo's generated decoders accept, as
// both the Thanos and the Prometheus wire types are gogo-generated: a
// hand-written decoder must not refuse a message that a Thanos component or
// Prometheus reads. That is laxer than the protobuf-go runtime in two ways:
// the bits of a ten-byte varint beyond the 64th are dropped rather than
// refused (as the C++ runtime does too), and the end of a skipped group is
// not matched against the field number of its start.
package pbwire

import (
	"errors"
	"fmt"
	"unsafe"
)

// Wire types.
const (
	Varint     = 0
	Fixed64    = 1
	Bytes      = 2
	StartGroup = 3
	EndGroup   = 4
	Fixed32    = 5
)

// ErrTruncated is the error of a message that ends inside a field.
var ErrTruncated = errors.New("truncated message")

// Fields calls fn with each field of the protobuf message b, in order: its
// number, wire type, and value, a varint's in v or a length-delimited
// field's in b (a slice of the message, not a copy). Of fixed-size fields and
// groups fn sees only the number and wire type: no message read here has
// one. A later field of a scalar overrides an earlier one, as protobuf has
// it, by fn being called again.
func Fields(b []byte, fn func(num, wire int, v uint64, b []byte) error) error {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n == 0 {
			return ErrTruncated
		}
		b = b[n:]
		// Field numbers are 32-bit; gogo drops the higher bits, and so do we.
		num, wire := int(int32(key>>3)), int(key&7)
		if wire == EndGroup {
			return fmt.Errorf("field %d: end of a group that did not start", num)
		}
		if num <= 0 {
			return fmt.Errorf("field number %d", num)
		}
		var v uint64
		var data []byte
		var err error
		switch wire {
		case Varint:
			if v, n = uvarint(b); n == 0 {
				return ErrTruncated
			}
			b = b[n:]
		case Bytes:
			if data, b, err = lengthDelimited(b); err != nil {
				return err
			}
		default:
			if b, err = skip(b, wire); err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
		}
		if err := fn(num, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// Expect refuses a known field sent with another wire type than its own.
func Expect(num, wire, want int) error {
	if wire != want {
		return fmt.Errorf("field %d: wire type %d, want %d", num, wire, want)
	}
	return nil
}

// Label decodes a label, the message {string name = 1; string value = 2}
// of both Prometheus's prompb and Thanos's labelpb, its strings pointing
// into b as gogo's ZLabel has them.
func Label(b []byte) (name, value string, err error) {
	err = Fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case 1:
			name = String(b)
		case 2:
			value = String(b)
		default:
			return nil
		}
		return Expect(num, wire, Bytes)
	})
	return name, value, err
}

// String is b as a string without a copy: b must not change while the
// string is in use.
func String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// uvarint decodes the varint at the start of b, of at most ten bytes, and
// returns it and its length, or a length of 0 if b holds none.
func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// lengthDelimited splits a length-delimited value from the rest of b.
func lengthDelimited(b []byte) (value, rest []byte, err error) {
	size, n := uvarint(b)
	if n == 0 || size > uint64(len(b)-n) {
		return nil, nil, ErrTruncated
	}
	end := n + int(size)
	return b[n:end], b[end:], nil
}

// skip returns b after the value of a field of the given wire type, whose
// key has been read. A group ends at the end-group key of its own depth.
func skip(b []byte, wire int) ([]byte, error) {
	depth := 0
	for {
		var err error
		switch wire {
		case Varint:
			_, n := uvarint(b)
			if n == 0 {
				return nil, ErrTruncated
			}
			b = b[n:]
		case Fixed64, Fixed32:
			size := 8
			if wire == Fixed32 {
				size = 4
			}
			if len(b) < size {
				return nil, ErrTruncated
			}
			b = b[size:]
		case Bytes:
			if _, b, err = lengthDelimited(b); err != nil {
				return nil, err
			}
		case StartGroup:
			depth++
		case EndGroup:
			depth--
		default:
			return nil, fmt.Errorf("unsupported wire type %d", wire)
		}
		if depth == 0 {
			return b, nil
		}
		key, n := uvarint(b)
		if n == 0 {
			return nil, ErrTruncated
		}
		b, wire = b[n:], int(key&7)
	}
}
