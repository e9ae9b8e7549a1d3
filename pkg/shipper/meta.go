package shipper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/tsdb"
)

// Names inside a block, locally and in the bucket.
const (
	metaFilename  = "meta.json"
	indexFilename = "index"
	chunksDirname = "chunks"
)

// sourceSidecar is the "source" Thanos's sidecar writes into the blocks it
// uploads; the compactor and bucket tools read it.
const sourceSidecar = "sidecar"

// Meta is a block's meta.json as it is uploaded: Prometheus's block meta
// with Thanos's "thanos" section, which the store gateway and the
// compactor read (the external labels above all). The JSON names are
// Thanos's.
type Meta struct {
	tsdb.BlockMeta
	Thanos Thanos `json:"thanos"`
}

// Thanos is the "thanos" section of meta.json.
type Thanos struct {
	// Version 0 (omitted) reads as Thanos's version 1.
	Version int `json:"version,omitempty"`
	// Labels are the external labels of the Prometheus that wrote the
	// block: they say which replica and cluster its series belong to.
	Labels     map[string]string `json:"labels"`
	Downsample Downsample        `json:"downsample"`
	Source     string            `json:"source"`
	// SegmentFiles are the file names under chunks/, sorted; Thanos still
	// writes them beside Files.
	SegmentFiles []string `json:"segment_files,omitempty"`
	// Files are the block's files sorted by path, with their sizes (none
	// for meta.json) and, with a hash function, their hashes.
	Files      []File     `json:"files,omitempty"`
	IndexStats IndexStats `json:"index_stats,omitempty"`
	UploadTime time.Time  `json:"upload_time,omitempty"`
}

// Downsample holds a block's resolution; 0 is raw data, as every block a
// sidecar uploads is.
type Downsample struct {
	Resolution int64 `json:"resolution"`
}

// File is one file of a block.
type File struct {
	RelPath   string      `json:"rel_path"`
	SizeBytes int64       `json:"size_bytes,omitempty"`
	Hash      *ObjectHash `json:"hash,omitempty"`
}

// ObjectHash is a file's hash as Thanos records it, e.g. {"hashFunc":
// "SHA256", "value": "<hex>"}.
type ObjectHash struct {
	Func  string `json:"hashFunc"`
	Value string `json:"value"`
}

// IndexStats are the index's largest series and chunk; a sidecar leaves
// them empty, as Thanos's does.
type IndexStats struct {
	SeriesMaxSize int64 `json:"series_max_size,omitempty"`
	ChunkMaxSize  int64 `json:"chunk_max_size,omitempty"`
}

// encode writes m as Thanos does: indented with tabs, one trailing newline.
func (m *Meta) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "\t")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decodeMeta reads a meta.json, local or from the bucket, and checks the
// versions a reader of it would check.
func decodeMeta(r io.Reader) (*Meta, error) {
	var m Meta
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, err
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("unexpected meta.json version %d", m.Version)
	}
	if m.Thanos.Version != 0 && m.Thanos.Version != 1 {
		return nil, fmt.Errorf("unexpected meta.json thanos section version %d", m.Thanos.Version)
	}
	if m.Thanos.Labels == nil {
		m.Thanos.Labels = map[string]string{}
	}
	return &m, nil
}

// readLocalMeta reads dir/meta.json.
func readLocalMeta(dir string) (*Meta, error) {
	f, err := os.Open(filepath.Join(dir, metaFilename))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := decodeMeta(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, metaFilename), err)
	}
	return m, nil
}
