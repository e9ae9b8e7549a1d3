package prometheus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"
)

// chunkedSeries is one series of a remote-read frame. Its label strings and
// chunk data point into the frame, which must stay as it is while they are
// in use.
type chunkedSeries struct {
	Labels []prompb.Label
	Chunks []prompb.Chunk
}

// frameDecoder decodes ChunkedReadResponse frames without copying them: the
// generated decoder allocates every series and chunk and copies each chunk's
// bytes, which was the most of what the sidecar spent relaying an answer.
type frameDecoder struct {
	series chunkedSeries // reused from series to series
}

// The field numbers of the messages decoded here, from Prometheus's
// prompb/remote.proto and prompb/types.proto.
const (
	fieldChunkedSeries = 1 // ChunkedReadResponse.chunked_series
	fieldQueryIndex    = 2 // ChunkedReadResponse.query_index
	fieldLabels        = 1 // ChunkedSeries.labels
	fieldChunks        = 2 // ChunkedSeries.chunks
	fieldLabelName     = 1
	fieldLabelValue    = 2
	fieldChunkMinTime  = 1
	fieldChunkMaxTime  = 2
	fieldChunkType     = 3
	fieldChunkData     = 4
)

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

var (
	errTruncated = errors.New("truncated message")
	// errBadFrame marks the errors of a frame that cannot be decoded, as
	// opposed to those of the function given the series.
	errBadFrame = errors.New("decode remote-read frame")
)

// decode calls fn with each series of the ChunkedReadResponse in frame, in
// order, and returns the first error fn returns as it is. The series is
// reused by the next call; its strings and bytes stay valid as long as
// frame does.
func (d *frameDecoder) decode(frame []byte, fn func(*chunkedSeries) error) error {
	var fnErr error
	err := fields(frame, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldChunkedSeries:
			if err := wireIs(num, wire, wireBytes); err != nil {
				return err
			}
		case fieldQueryIndex:
			return wireIs(num, wire, wireVarint)
		default:
			return nil
		}
		if err := d.decodeSeries(b); err != nil {
			return fmt.Errorf("chunked series: %w", err)
		}
		fnErr = fn(&d.series)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w: %w", errBadFrame, err)
	}
	return err
}

func (d *frameDecoder) decodeSeries(b []byte) error {
	s := &d.series
	s.Labels, s.Chunks = s.Labels[:0], s.Chunks[:0]
	return fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case fieldLabels:
			if err := wireIs(num, wire, wireBytes); err != nil {
				return err
			}
			l, err := decodeLabel(b)
			if err != nil {
				return fmt.Errorf("label: %w", err)
			}
			s.Labels = append(s.Labels, l)
		case fieldChunks:
			if err := wireIs(num, wire, wireBytes); err != nil {
				return err
			}
			c, err := decodeChunk(b)
			if err != nil {
				return fmt.Errorf("chunk: %w", err)
			}
			s.Chunks = append(s.Chunks, c)
		}
		return nil
	})
}

func decodeLabel(b []byte) (l prompb.Label, err error) {
	err = fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case fieldLabelName:
			l.Name = unsafeString(b)
		case fieldLabelValue:
			l.Value = unsafeString(b)
		default:
			return nil
		}
		return wireIs(num, wire, wireBytes)
	})
	return l, err
}

func decodeChunk(b []byte) (c prompb.Chunk, err error) {
	err = fields(b, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldChunkMinTime:
			c.MinTimeMs = int64(v)
		case fieldChunkMaxTime:
			c.MaxTimeMs = int64(v)
		case fieldChunkType:
			c.Type = prompb.Chunk_Encoding(int32(v))
		case fieldChunkData:
			c.Data = b
			return wireIs(num, wire, wireBytes)
		default:
			return nil
		}
		return wireIs(num, wire, wireVarint)
	})
	return c, err
}

// wireIs refuses a known field sent with another wire type than its own.
func wireIs(num, wire, want int) error {
	if wire != want {
		return fmt.Errorf("field %d: wire type %d, want %d", num, wire, want)
	}
	return nil
}

// fields calls fn with each field of the protobuf message b: its number,
// wire type, and value, a varint's in v or a length-delimited field's in b.
// Fields of other wire types are skipped. A later field of a scalar
// overrides an earlier one, as protobuf has it, by fn being called again.
func fields(b []byte, fn func(num, wire int, v uint64, b []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errTruncated
		}
		b = b[n:]
		// Field numbers are 32-bit: anything else is not a field.
		num, wire := int(int32(key>>3)), int(key&7)
		if num <= 0 {
			return fmt.Errorf("field number %d", num)
		}
		var v uint64
		var data []byte
		switch wire {
		case wireVarint:
			if v, n = binary.Uvarint(b); n <= 0 {
				return errTruncated
			}
			b = b[n:]
		case wireFixed64, wireFixed32:
			size := 8
			if wire == wireFixed32 {
				size = 4
			}
			if len(b) < size {
				return errTruncated
			}
			b = b[size:]
		case wireBytes:
			size, n := binary.Uvarint(b)
			if n <= 0 || size > uint64(len(b)-n) {
				return errTruncated
			}
			data, b = b[n:n+int(size)], b[n+int(size):]
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", num, wire)
		}
		if err := fn(num, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// unsafeString is b as a string without a copy: b must not change while
// the string is in use.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
