package blocks

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/fileutil"
	"github.com/prometheus/prometheus/tsdb/index"
)

// blockIndex is a block's index: Prometheus's reader for its postings, and
// series read with their symbols looked up through a symbolCache.
//
// Prometheus's reader finds a label value's symbol by walking up to 31
// symbols of the table and copies it out, for every label of every series:
// a sixth of the sidecar's CPU on a range query. The values of a
// selection's series repeat (a metric name, a job, a status code, each
// instance under several metrics), so a cache of what one Select has looked
// up saves most of that.
type blockIndex struct {
	*index.Reader
	file    *fileutil.MmapFile
	bytes   byteSlice
	symbols *index.Symbols
	v1      bool // format 1 series are read by the reader itself
}

// byteSlice is a mapped index file as the index package reads it.
type byteSlice []byte

func (b byteSlice) Len() int                           { return len(b) }
func (b byteSlice) Range(start, end int) []byte        { return b[start:end] }
func (b byteSlice) Sub(start, end int) index.ByteSlice { return b[start:end] }

func openIndex(path string) (_ *blockIndex, err error) {
	f, err := fileutil.OpenMmapFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	b := byteSlice(f.Bytes())
	r, err := index.NewReader(b, index.DecodePostingsRaw)
	if err != nil {
		return nil, err
	}
	toc, err := index.NewTOCFromByteSlice(b)
	if err != nil {
		return nil, fmt.Errorf("read table of contents: %w", err)
	}
	syms, err := index.NewSymbols(b, r.Version(), int(toc.Symbols))
	if err != nil {
		return nil, fmt.Errorf("read symbols: %w", err)
	}
	return &blockIndex{Reader: r, file: f, bytes: b, symbols: syms, v1: r.Version() == index.FormatV1}, nil
}

func (ix *blockIndex) Close() error {
	return errors.Join(ix.Reader.Close(), ix.file.Close())
}

// maxCachedSymbols bounds a symbolCache: about 2 MiB of entries.
const maxCachedSymbols = 1 << 16

// symbolCache holds the symbols of one index that one Select has looked
// up. The strings are copies, not views of the mapped file.
type symbolCache struct {
	ix  *blockIndex
	m   map[uint32]string
	dec index.Decoder
}

func newSymbolCache(ix *blockIndex) *symbolCache {
	c := &symbolCache{ix: ix, m: map[uint32]string{}}
	c.dec.LookupSymbol = c.lookup
	return c
}

func (c *symbolCache) lookup(_ context.Context, o uint32) (string, error) {
	if s, ok := c.m[o]; ok {
		return s, nil
	}
	s, err := c.ix.symbols.Lookup(o)
	if err == nil && len(c.m) < maxCachedSymbols {
		c.m[o] = s
	}
	return s, err
}

// series reads series id as index.Reader.Series does, its symbols through
// c.
func (c *symbolCache) series(id storage.SeriesRef, builder *labels.ScratchBuilder, chks *[]chunks.Meta) error {
	if c.ix.v1 {
		return c.ix.Series(id, builder, chks)
	}
	// Format 2 pads series to 16 bytes; an ID is the offset over 16.
	d := encoding.NewDecbufUvarintAt(c.ix.bytes, int(id*16), castagnoli)
	if err := d.Err(); err != nil {
		return err
	}
	if err := c.dec.Series(d.Get(), builder, chks); err != nil {
		return fmt.Errorf("read series: %w", err)
	}
	return nil
}
