package prometheus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Prometheus's streamed remote read writes each ChunkedReadResponse as a
// frame: uvarint length, big-endian CRC32 (Castagnoli) of the data, data.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DefaultMaxFrameSize bounds one frame; Prometheus aims at 1 MiB frames, so
// anything far larger is a broken stream, not data.
const DefaultMaxFrameSize = 64 << 20

// FrameReader reads remote-read frames one at a time. Each frame is read
// into bytes of its own, so that what is decoded from it can point into it
// for as long as it is needed.
type FrameReader struct {
	r       *bufio.Reader
	maxSize uint64
}

// NewFrameReader reads frames of at most maxSize bytes from r.
func NewFrameReader(r io.Reader, maxSize uint64) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 32<<10), maxSize: maxSize}
}

// Next returns the next frame's data. It returns io.EOF at a clean end of
// the stream and io.ErrUnexpectedEOF when the stream stops inside a frame.
func (f *FrameReader) Next() ([]byte, error) {
	size, err := binary.ReadUvarint(f.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame size: %w", unexpected(err))
	}
	if size > f.maxSize {
		return nil, fmt.Errorf("frame of %d bytes exceeds the limit of %d", size, f.maxSize)
	}
	var crc [4]byte
	if _, err := io.ReadFull(f.r, crc[:]); err != nil {
		return nil, fmt.Errorf("read frame checksum: %w", unexpected(err))
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(f.r, buf); err != nil {
		return nil, fmt.Errorf("read frame of %d bytes: %w", size, unexpected(err))
	}
	if got, want := crc32.Checksum(buf, castagnoli), binary.BigEndian.Uint32(crc[:]); got != want {
		return nil, fmt.Errorf("frame checksum mismatch: computed %08x, frame says %08x", got, want)
	}
	return buf, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
