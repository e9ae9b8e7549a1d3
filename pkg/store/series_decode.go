package store

import (
	"fmt"
	"math/bits"

	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/pbwire"
)

// The field numbers of the messages decoded here, from Thanos's
// storepb/rpc.proto, storepb/types.proto and labelpb/types.proto.
const (
	fieldResponseSeries = 1 // SeriesResponse.series, the first of its oneof
	fieldResponseBatch  = 4 // SeriesResponse.batch, the last; 2 and 3 are a warning and hints
	fieldBatchSeries    = 1 // SeriesBatch.series
	fieldSeriesLabels   = 1
	fieldSeriesChunks   = 2
	fieldAggrMinTime    = 1
	fieldAggrMaxTime    = 2
	fieldAggrRaw        = 3 // then count, sum, min and max
	fieldAggrCounter    = 8
	fieldChunkType      = 1
	fieldChunkData      = 2
	fieldChunkHash      = 3
)

// unmarshalSeriesResponse decodes buf into m as m.Unmarshal does, label
// strings and chunk data pointing into buf alike, but it counts what a series
// or a batch of them holds first and then allocates the labels, aggregated
// chunks and chunks of the whole message in one slice each. gogo's decoder
// grows every series' chunks by append and allocates every chunk on its own,
// a quarter of what a querier allocated per query. A warning, hints, or
// anything but one series or batch is left to gogo's decoder.
func unmarshalSeriesResponse(buf []byte, m *storepb.SeriesResponse) error {
	num, result, ok := soleResult(buf)
	if !ok {
		return m.Unmarshal(buf)
	}
	var n counts
	if err := n.add(num, result); err != nil {
		return err
	}
	a := arena{
		labels: make([]labelpb.ZLabel, 0, n.labels),
		aggrs:  make([]storepb.AggrChunk, 0, n.aggrs),
		chunks: make([]storepb.Chunk, 0, n.chunks),
	}
	if num == fieldResponseSeries {
		s := new(storepb.Series)
		if err := a.decodeSeries(result, s); err != nil {
			return fmt.Errorf("series: %w", err)
		}
		m.Result = &storepb.SeriesResponse_Series{Series: s}
		return nil
	}
	batch := new(storepb.SeriesBatch)
	if n.series > 0 {
		batch.Series = make([]*storepb.Series, 0, n.series)
	}
	series := make([]storepb.Series, 0, n.series)
	err := pbwire.Fields(result, func(num, wire int, _ uint64, b []byte) error {
		if num != fieldBatchSeries {
			return nil
		}
		if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
			return err
		}
		series = grow(series)
		s := &series[len(series)-1]
		batch.Series = append(batch.Series, s)
		return a.decodeSeries(b, s)
	})
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	m.Result = &storepb.SeriesResponse_Batch{Batch: batch}
	return nil
}

// soleResult returns the one result of a SeriesResponse if it is a series or
// a batch, given as the only field of the response's oneof, as stores send
// it. Of several, gogo keeps the last, and sorts out whether the others are
// valid.
func soleResult(buf []byte) (num int, result []byte, ok bool) {
	results := 0
	err := pbwire.Fields(buf, func(n, wire int, _ uint64, b []byte) error {
		if n >= fieldResponseSeries && n <= fieldResponseBatch {
			results++
			num, result, ok = n, b, wire == pbwire.Bytes
		}
		return nil
	})
	ok = ok && err == nil && results == 1 && (num == fieldResponseSeries || num == fieldResponseBatch)
	return num, result, ok
}

// counts are what a response holds, counted before any of it is allocated.
type counts struct{ series, labels, aggrs, chunks int }

// add counts the series, or the batch of series, in b. Its errors are the
// message's; each is caught again by the decoding that follows, which makes
// sure of the rest.
func (c *counts) add(num int, b []byte) error {
	if num == fieldResponseSeries {
		return c.addSeries(b)
	}
	return pbwire.Fields(b, func(num, wire int, _ uint64, b []byte) error {
		if num != fieldBatchSeries {
			return nil
		}
		if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
			return err
		}
		c.series++
		return c.addSeries(b)
	})
}

func (c *counts) addSeries(b []byte) error {
	return pbwire.Fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case fieldSeriesLabels:
			c.labels++
		case fieldSeriesChunks:
			c.aggrs++
			// A chunk given twice is one chunk, merged: count each once.
			var present uint
			err := pbwire.Fields(b, func(num, _ int, _ uint64, _ []byte) error {
				if num >= fieldAggrRaw && num <= fieldAggrCounter {
					present |= 1 << num
				}
				return nil
			})
			c.chunks += bits.OnesCount(present)
			if err != nil {
				return err
			}
		default:
			return nil
		}
		return pbwire.Expect(num, wire, pbwire.Bytes)
	})
}

// arena holds the labels, aggregated chunks and chunks of one response, each
// series' a slice of its own of them.
type arena struct {
	labels []labelpb.ZLabel
	aggrs  []storepb.AggrChunk
	chunks []storepb.Chunk
}

// grow extends s by one zero element. Within its capacity, which make has
// zeroed and nothing has written to, that costs nothing; should a count
// fall short, append moves on to a new array and what was decoded stays
// where it is.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

func (a *arena) decodeSeries(b []byte, s *storepb.Series) error {
	labels, aggrs := len(a.labels), len(a.aggrs)
	err := pbwire.Fields(b, func(num, wire int, _ uint64, b []byte) error {
		switch num {
		case fieldSeriesLabels, fieldSeriesChunks:
			if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
				return err
			}
		default:
			return nil
		}
		if num == fieldSeriesLabels {
			a.labels = grow(a.labels)
			l := &a.labels[len(a.labels)-1]
			var err error
			if l.Name, l.Value, err = pbwire.Label(b); err != nil {
				return fmt.Errorf("label: %w", err)
			}
			return nil
		}
		a.aggrs = grow(a.aggrs)
		if err := a.decodeAggrChunk(b, &a.aggrs[len(a.aggrs)-1]); err != nil {
			return fmt.Errorf("chunk: %w", err)
		}
		return nil
	})
	// Capacities end where the series' own slices do, so that appending to
	// one never writes over the next series'.
	if len(a.labels) > labels {
		s.Labels = a.labels[labels:len(a.labels):len(a.labels)]
	}
	if len(a.aggrs) > aggrs {
		s.Chunks = a.aggrs[aggrs:len(a.aggrs):len(a.aggrs)]
	}
	return err
}

func (a *arena) decodeAggrChunk(b []byte, c *storepb.AggrChunk) error {
	return pbwire.Fields(b, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldAggrMinTime:
			c.MinTime = int64(v)
			return pbwire.Expect(num, wire, pbwire.Varint)
		case fieldAggrMaxTime:
			c.MaxTime = int64(v)
			return pbwire.Expect(num, wire, pbwire.Varint)
		}
		chunk := chunkField(c, num)
		if chunk == nil {
			return nil
		}
		if err := pbwire.Expect(num, wire, pbwire.Bytes); err != nil {
			return err
		}
		// A chunk given again is merged into the first, as protobuf has it.
		if *chunk == nil {
			a.chunks = grow(a.chunks)
			*chunk = &a.chunks[len(a.chunks)-1]
		}
		return decodeChunk(b, *chunk)
	})
}

// chunkField is the field of c with the given number that holds a chunk, or
// nil if there is none.
func chunkField(c *storepb.AggrChunk, num int) **storepb.Chunk {
	switch num {
	case fieldAggrRaw:
		return &c.Raw
	case fieldAggrRaw + 1:
		return &c.Count
	case fieldAggrRaw + 2:
		return &c.Sum
	case fieldAggrRaw + 3:
		return &c.Min
	case fieldAggrRaw + 4:
		return &c.Max
	case fieldAggrCounter:
		return &c.Counter
	}
	return nil
}

func decodeChunk(b []byte, c *storepb.Chunk) error {
	return pbwire.Fields(b, func(num, wire int, v uint64, b []byte) error {
		switch num {
		case fieldChunkType:
			c.Type = storepb.Chunk_Encoding(int32(v))
		case fieldChunkData:
			c.Data = b
			return pbwire.Expect(num, wire, pbwire.Bytes)
		case fieldChunkHash:
			c.Hash = v
		default:
			return nil
		}
		return pbwire.Expect(num, wire, pbwire.Varint)
	})
}
