package blocks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// The chunk segment format of Prometheus's TSDB (tsdb/docs/format/chunks.md):
// a header of magic number, version and padding, then chunks, each a
// uvarint length, an encoding byte, the data and a CRC32 (Castagnoli) of
// the encoding and the data.
const (
	segmentMagic      = 0x85BD40DD
	segmentHeaderSize = 8
	// maxChunkSize bounds one chunk: TSDB cuts chunks far smaller, so a
	// larger length is a broken file, not data to allocate for.
	maxChunkSize = 16 << 20
	// readAhead is read past a series' last chunk's start in the same
	// call, enough for that chunk in all but rare cases.
	readAhead = 1 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segments are a block's chunk files, read with ReadAt rather than mapped:
// a read copies only the chunks asked for into memory of the process's own,
// which the garbage collector returns, and a file cut short is an error,
// not a fault.
type segments struct {
	files []*os.File
	sizes []int64
}

func openSegments(dir string) (*segments, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("list chunk segments: %w", err)
	}
	s := &segments{}
	for _, e := range entries {
		// Segments are numbered from 1, in order, with no gaps.
		if n, err := strconv.Atoi(e.Name()); err != nil || n != len(s.files)+1 {
			continue
		}
		if err := s.open(filepath.Join(dir, e.Name())); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *segments) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open chunk segment: %w", err)
	}
	st, err := f.Stat()
	if err == nil {
		var h [segmentHeaderSize]byte
		if _, err = f.ReadAt(h[:], 0); err == nil {
			if m := binary.BigEndian.Uint32(h[:4]); m != segmentMagic {
				err = fmt.Errorf("magic number %x", m)
			} else if h[4] != 1 {
				err = fmt.Errorf("format version %d", h[4])
			}
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("chunk segment %s: %w", path, err)
	}
	s.files, s.sizes = append(s.files, f), append(s.sizes, st.Size())
	return nil
}

func (s *segments) close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// read appends the chunks of metas, one series' chunks in time order, to
// dst, reading each run of them that lies in one segment with one call.
func (s *segments) read(metas []chunks.Meta, dst []storepb.AggrChunk) ([]storepb.AggrChunk, error) {
	raws := make([]storepb.Chunk, len(metas))
	for i := 0; i < len(metas); {
		seg, _ := chunks.BlockChunkRef(metas[i].Ref).Unpack()
		j := i + 1
		for j < len(metas) {
			if sj, _ := chunks.BlockChunkRef(metas[j].Ref).Unpack(); sj != seg {
				break
			}
			j++
		}
		var err error
		if dst, err = s.readRun(seg, metas[i:j], raws[i:j], dst); err != nil {
			return nil, err
		}
		i = j
	}
	return dst, nil
}

func (s *segments) readRun(seg int, metas []chunks.Meta, raws []storepb.Chunk, dst []storepb.AggrChunk) ([]storepb.AggrChunk, error) {
	if seg < 0 || seg >= len(s.files) {
		return nil, fmt.Errorf("chunk in segment %d of %d", seg+1, len(s.files))
	}
	first := offset(metas[0])
	last := offset(metas[len(metas)-1])
	if first < segmentHeaderSize || last < first {
		return nil, fmt.Errorf("chunks of a series at offsets %d..%d of segment %d, out of order", first, last, seg+1)
	}
	buf, err := s.readAt(seg, first, last+readAhead)
	if err != nil {
		return nil, err
	}
	for i, m := range metas {
		at := offset(m) - first
		if at >= int64(len(buf)) {
			return nil, fmt.Errorf("chunk at offset %d of segment %d: past its end", offset(m), seg+1)
		}
		size, n := binary.Uvarint(buf[at:min(int64(len(buf)), at+binary.MaxVarintLen32)])
		if n <= 0 || size > maxChunkSize {
			return nil, fmt.Errorf("chunk at offset %d of segment %d: bad length", offset(m), seg+1)
		}
		end := at + int64(n) + 1 + int64(size) + crc32.Size
		if end > int64(len(buf)) {
			// Only the last chunk can reach past what was read.
			more, err := s.readAt(seg, first+int64(len(buf)), first+end)
			if err != nil {
				return nil, err
			}
			buf = append(buf, more...)
			if end > int64(len(buf)) {
				return nil, fmt.Errorf("chunk at offset %d of segment %d: past its end", offset(m), seg+1)
			}
		}
		body := buf[at+int64(n) : end-crc32.Size]
		if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(buf[end-crc32.Size:end]); got != want {
			return nil, fmt.Errorf("chunk at offset %d of segment %d: checksum %08x, want %08x", offset(m), seg+1, got, want)
		}
		enc, err := store.ChunkType(chunkenc.Encoding(body[0]))
		if err != nil {
			return nil, fmt.Errorf("chunk at offset %d of segment %d: %w", offset(m), seg+1, err)
		}
		raws[i] = storepb.Chunk{Type: enc, Data: body[1:]}
		dst = append(dst, storepb.AggrChunk{MinTime: m.MinTime, MaxTime: m.MaxTime, Raw: &raws[i]})
	}
	return dst, nil
}

// readAt reads [from, to) of a segment, cut at its end.
func (s *segments) readAt(seg int, from, to int64) ([]byte, error) {
	to = min(to, s.sizes[seg])
	if from >= to {
		return nil, nil
	}
	buf := make([]byte, to-from)
	n, err := s.files[seg].ReadAt(buf, from)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(buf)) {
		return nil, fmt.Errorf("read segment %d at %d: %w", seg+1, from, err)
	}
	return buf, nil
}

func offset(m chunks.Meta) int64 {
	_, off := chunks.BlockChunkRef(m.Ref).Unpack()
	return int64(off)
}
