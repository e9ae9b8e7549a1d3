package prometheus

import (
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/prompb"

	"github.com/tandem-metrics/tandem/internal/pbwire"
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
	fieldChunkMinTime  = 1
	fieldChunkMaxTime  = 2
	fieldChunkType     = 3
	fieldChunkData     = 4
)

// errBadFrame marks the errors of a frame that cannot be decoded, as opposed
// to those of the function given the series.
var errBadFrame = errors.New("decode remote-read frame")

// decode calls fn with each series of the ChunkedReadResponse in frame, in
// order, and returns the first error fn returns as it is. The series is
// reused by the next call; its strings and bytes stay valid as long as
// frame does.
func (d *frameDecoder) decode(frame []byte, fn func(*chunkedSeries) error) error {
	var fnErr error
	err := pbwire.Fields(frame, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldChunkedSeries:
			if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
				return err
			}
		case fieldQueryIndex:
			return pbwire.Expect(num, wire, pbwire.Varint)
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
	return pbwire.Fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case fieldLabels:
			if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
				return err
			}
			name, value, err := pbwire.Label(b)
			if err != nil {
				return fmt.Errorf("label: %w", err)
			}
			s.Labels = append(s.Labels, prompb.Label{Name: name, Value: value})
		case fieldChunks:
			if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
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

func decodeChunk(b []byte) (c prompb.Chunk, err error) {
	err = pbwire.Fields(b, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldChunkMinTime:
			c.MinTimeMs = int64(v)
		case fieldChunkMaxTime:
			c.MaxTimeMs = int64(v)
		case fieldChunkType:
			c.Type = prompb.Chunk_Encoding(int32(v))
		case fieldChunkData:
			c.Data = b
			return pbwire.Expect(num, wire, pbwire.Bytes)
		default:
			return nil
		}
		return pbwire.Expect(num, wire, pbwire.Varint)
	})
	return c, err
}
