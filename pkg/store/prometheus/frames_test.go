package prometheus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"
)

func frame(data []byte) []byte {
	var b bytes.Buffer
	var size [binary.MaxVarintLen64]byte
	b.Write(size[:binary.PutUvarint(size[:], uint64(len(data)))])
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(data, castagnoli))
	b.Write(crc[:])
	b.Write(data)
	return b.Bytes()
}

func TestFrameReader(t *testing.T) {
	good := append(frame([]byte("first")), frame([]byte("second frame"))...)
	corrupt := frame([]byte("payload"))
	corrupt[len(corrupt)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		in      []byte
		max     uint64
		frames  []string
		wantErr string
	}{
		{name: "two frames", in: good, max: 1 << 20, frames: []string{"first", "second frame"}},
		{name: "empty stream", in: nil, max: 1 << 20},
		{name: "empty frame", in: frame(nil), max: 1 << 20, frames: []string{""}},
		{name: "checksum mismatch", in: corrupt, max: 1 << 20, wantErr: "checksum mismatch"},
		{name: "truncated data", in: good[:len(good)-3], max: 1 << 20, frames: []string{"first"}, wantErr: "unexpected EOF"},
		{name: "truncated checksum", in: frame([]byte("x"))[:3], max: 1 << 20, wantErr: "unexpected EOF"},
		{name: "oversized frame", in: frame(make([]byte, 100)), max: 99, wantErr: "exceeds the limit of 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewFrameReader(bytes.NewReader(tc.in), tc.max)
			var got []string
			var err error
			for {
				var f []byte
				f, err = r.Next()
				if err != nil {
					break
				}
				got = append(got, string(f))
			}
			if len(got) != len(tc.frames) {
				t.Fatalf("frames %q, want %q", got, tc.frames)
			}
			for i := range got {
				if got[i] != tc.frames[i] {
					t.Fatalf("frame %d %q, want %q", i, got[i], tc.frames[i])
				}
			}
			if tc.wantErr == "" {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
			} else if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
				t.Fatalf("ended with %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzFrameReader feeds arbitrary bytes to the decoder: it must never panic
// or allocate beyond its limit, and every frame it returns must carry a
// matching checksum and its declared size.
func FuzzFrameReader(f *testing.F) {
	f.Add(append(frame([]byte("first")), frame([]byte("second"))...))
	f.Add(frame(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x05, 0, 0, 0, 0, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		r := NewFrameReader(bytes.NewReader(in), limit)
		consumed := 0
		for range 1000 {
			data, err := r.Next()
			if err != nil {
				return
			}
			if len(data) > limit {
				t.Fatalf("frame of %d bytes beyond the limit", len(data))
			}
			consumed += len(data)
			if consumed > len(in) {
				t.Fatalf("returned %d bytes from %d of input", consumed, len(in))
			}
		}
	})
}
