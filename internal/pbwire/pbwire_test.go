package pbwire

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

type field struct {
	num, wire int
	v         uint64
	b         []byte
}

func (f field) String() string { return fmt.Sprintf("{%d %d %d %q}", f.num, f.wire, f.v, f.b) }

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want []field // nil with wantErr
		err  bool
	}{
		{name: "empty", msg: nil, want: []field{}},
		{name: "varint", msg: []byte{0x08, 0x96, 0x01}, want: []field{{1, Varint, 150, nil}}},
		{name: "bytes", msg: []byte{0x12, 2, 'h', 'i', 0x12, 0}, want: []field{{2, Bytes, 0, []byte("hi")}, {2, Bytes, 0, []byte{}}}},
		{name: "fixed", msg: []byte{0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4}, want: []field{{3, Fixed64, 0, nil}, {4, Fixed32, 0, nil}}},
		{name: "two-byte key", msg: []byte{0x98, 0x01, 5}, want: []field{{19, Varint, 5, nil}}},
		{name: "negative int64", msg: []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, want: []field{{1, Varint, 1<<64 - 1, nil}}},
		// gogo keeps the 64 low bits of a ten-byte varint whatever its last byte.
		{name: "ten-byte varint past 64 bits", msg: []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, want: []field{{1, Varint, 1 << 63, nil}}},
		{name: "eleven-byte varint", msg: []byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, err: true},
		{name: "group", msg: []byte{0x0b, 0x10, 1, 0x1b, 0x1c, 0x0c, 0x10, 7}, want: []field{{1, StartGroup, 0, nil}, {2, Varint, 7, nil}}},
		// gogo ends a group at any end-group key of its depth.
		{name: "group ended by another number", msg: []byte{0x0b, 0x14}, want: []field{{1, StartGroup, 0, nil}}},
		{name: "group not ended", msg: []byte{0x0b, 0x10, 1}, err: true},
		{name: "end group alone", msg: []byte{0x0c}, err: true},
		{name: "field number 0", msg: []byte{0x00, 1}, err: true},
		{name: "field number past 32 bits", msg: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0}, err: true},
		{name: "field number wrapping to 1", msg: []byte{0x88, 0x80, 0x80, 0x80, 0x80, 0x01, 5}, want: []field{{1, Varint, 5, nil}}},
		{name: "wire type 6", msg: []byte{0x0e}, err: true},
		{name: "wire type 7", msg: []byte{0x0f}, err: true},
		{name: "truncated key", msg: []byte{0x98}, err: true},
		{name: "truncated varint", msg: []byte{0x08, 0x96}, err: true},
		{name: "truncated fixed64", msg: []byte{0x19, 1, 2, 3, 4, 5, 6, 7}, err: true},
		{name: "truncated fixed32", msg: []byte{0x25, 1, 2, 3}, err: true},
		{name: "length past the end", msg: []byte{0x12, 3, 'h', 'i'}, err: true},
		{name: "length past 63 bits", msg: []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'h'}, err: true},
		{name: "truncated length", msg: []byte{0x12}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := []field{}
			err := Fields(tc.msg, func(num, wire int, v uint64, b []byte) error {
				got = append(got, field{num, wire, v, b})
				return nil
			})
			if tc.err {
				if err == nil {
					t.Fatalf("no error, fields %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b field) bool {
				return a.num == b.num && a.wire == b.wire && a.v == b.v && bytes.Equal(a.b, b.b) && (a.b == nil) == (b.b == nil)
			}) {
				t.Fatalf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFieldsStopsAtTheCallersError(t *testing.T) {
	calls := 0
	err := Fields([]byte{0x08, 1, 0x08, 2}, func(int, int, uint64, []byte) error {
		calls++
		return ErrTruncated
	})
	if err != ErrTruncated || calls != 1 {
		t.Fatalf("error %v after %d calls, want the caller's after 1", err, calls)
	}
}
