package store

import (
	"fmt"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/chunkcheck"
)

// ChunkEncoding maps a Store API chunk type to its chunkenc encoding; the two
// enumerations number the same encodings differently.
func ChunkEncoding(t storepb.Chunk_Encoding) (chunkenc.Encoding, error) {
	switch t {
	case storepb.Chunk_XOR:
		return chunkenc.EncXOR, nil
	case storepb.Chunk_HISTOGRAM:
		return chunkenc.EncHistogram, nil
	case storepb.Chunk_FLOAT_HISTOGRAM:
		return chunkenc.EncFloatHistogram, nil
	}
	return chunkenc.EncNone, fmt.Errorf("unknown chunk type %d", t)
}

// ChunkType maps a chunkenc encoding to its Store API chunk type.
func ChunkType(e chunkenc.Encoding) (storepb.Chunk_Encoding, error) {
	switch e {
	case chunkenc.EncXOR:
		return storepb.Chunk_XOR, nil
	case chunkenc.EncHistogram:
		return storepb.Chunk_HISTOGRAM, nil
	case chunkenc.EncFloatHistogram:
		return storepb.Chunk_FLOAT_HISTOGRAM, nil
	}
	return 0, fmt.Errorf("chunk encoding %s has no Store API type", e)
}

// DecodeChunk turns the raw chunk of a Store API series into a chunkenc
// chunk. The chunk reads data in place: it is valid as long as data is.
func DecodeChunk(c *storepb.Chunk) (chunkenc.Chunk, error) {
	if c == nil {
		return nil, fmt.Errorf("series chunk without raw data (downsampled chunks are not supported)")
	}
	enc, err := ChunkEncoding(c.Type)
	if err != nil {
		return nil, err
	}
	if err := chunkcheck.Layout(enc, c.Data); err != nil {
		return nil, err
	}
	chk, err := chunkenc.FromData(enc, c.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s chunk: %w", enc, err)
	}
	return chk, nil
}

// chunkChecker looks at every chunk a store sends before the merge takes it,
// so that a store sending chunks that cannot be read fails on its own, named,
// instead of failing the whole query later inside PromQL, or crashing it.
type chunkChecker struct {
	chunkcheck.Checker
}

func (k *chunkChecker) check(c *storepb.AggrChunk) error {
	if c.Raw == nil {
		return fmt.Errorf("series chunk without raw data (downsampled chunks are not supported)")
	}
	enc, err := ChunkEncoding(c.Raw.Type)
	if err != nil {
		return err
	}
	return k.Check(enc, c.Raw.Data, c.MinTime, c.MaxTime)
}
