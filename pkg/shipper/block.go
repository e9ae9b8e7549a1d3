package shipper

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/oklog/ulid/v2"
)

// HashSHA256 is the one hash function Thanos records in meta.json
// (--hash-func=SHA256).
const HashSHA256 = "SHA256"

// localBlock is a block directory in the TSDB directory. Prometheus writes
// a block under a temporary name and renames it once complete, so a
// directory named by a ULID is a whole block.
type localBlock struct {
	dir  string
	meta *Meta
}

// localBlocks lists the blocks in dir, oldest first, and the errors of
// those whose meta.json cannot be read.
func localBlocks(dir string) (blocks []localBlock, broken []error, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read TSDB directory: %w", err)
	}
	for _, e := range entries {
		id, err := ulid.Parse(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		bdir := filepath.Join(dir, e.Name())
		m, err := readLocalMeta(bdir)
		if errors.Is(err, os.ErrNotExist) {
			// Deleted (by retention or compaction) since the listing.
			if _, serr := os.Stat(bdir); errors.Is(serr, os.ErrNotExist) {
				continue
			}
		}
		if err == nil && m.ULID != id {
			err = fmt.Errorf("%s: meta.json names block %s", bdir, m.ULID)
		}
		if err != nil {
			broken = append(broken, fmt.Errorf("block %s: %w", id, err))
			continue
		}
		blocks = append(blocks, localBlock{dir: bdir, meta: m})
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].meta.MinTime < blocks[j].meta.MinTime })
	return blocks, broken, nil
}

// blockFile is one data file of a block, open for upload.
type blockFile struct {
	rel  string // path in the block, with slashes: chunks/000001, index
	f    *os.File
	size int64
	hash *ObjectHash
}

// openFiles opens the block's chunk segments and index, all before any is
// uploaded: should Prometheus delete the block meanwhile, the open files
// stay readable and the upload still completes. The block's directory is
// only read. With hashFunc HashSHA256 each file's hash is computed.
func (b localBlock) openFiles(hashFunc string) (_ []blockFile, err error) {
	var files []blockFile
	defer func() {
		if err != nil {
			closeFiles(files)
		}
	}()
	entries, err := os.ReadDir(filepath.Join(b.dir, chunksDirname))
	if err != nil {
		return nil, err
	}
	rels := make([]string, 0, len(entries)+1)
	for _, e := range entries {
		if !e.IsDir() {
			rels = append(rels, path.Join(chunksDirname, e.Name()))
		}
	}
	rels = append(rels, indexFilename)
	for _, rel := range rels {
		f, err := os.Open(filepath.Join(b.dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		files = append(files, blockFile{rel: rel, f: f})
		bf := &files[len(files)-1]
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		bf.size = st.Size()
		if hashFunc == HashSHA256 {
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return nil, fmt.Errorf("hash %s: %w", rel, err)
			}
			bf.hash = &ObjectHash{Func: HashSHA256, Value: hex.EncodeToString(h.Sum(nil))}
		}
	}
	return files, nil
}

func closeFiles(files []blockFile) {
	for _, f := range files {
		_ = f.f.Close()
	}
}

// thanosSection is the "thanos" section of the meta.json uploaded with
// files, as Thanos's sidecar writes it.
func thanosSection(external map[string]string, files []blockFile) Thanos {
	t := Thanos{Labels: external, Source: sourceSidecar}
	for _, f := range files {
		if dir, name := path.Split(f.rel); dir == chunksDirname+"/" {
			t.SegmentFiles = append(t.SegmentFiles, name)
		}
		t.Files = append(t.Files, File{RelPath: f.rel, SizeBytes: f.size, Hash: f.hash})
	}
	t.Files = append(t.Files, File{RelPath: metaFilename})
	sort.Slice(t.Files, func(i, j int) bool { return t.Files[i].RelPath < t.Files[j].RelPath })
	return t
}
