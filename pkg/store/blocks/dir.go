// Package blocks reads the blocks a Prometheus has persisted, straight from
// its data directory, beside the Prometheus that owns and writes them.
//
// Which blocks exist is Prometheus's to say: a Dir opens only the blocks it
// is asked for, by the ULID and time range Prometheus reports, so that a
// compaction or a retention cut in progress never shows half done.
package blocks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/prometheus/tsdb"
)

// Meta names a block as Prometheus reports it; MaxTime is exclusive.
type Meta struct {
	ULID             string
	MinTime, MaxTime int64
}

// ErrNotFound is a block Prometheus has that the directory does not hold:
// it was deleted since, or the directory is not that Prometheus's.
var ErrNotFound = errors.New("block not found")

// Dir is a Prometheus data directory. Blocks stay open between reads and
// are closed once Prometheus no longer reports them and nobody reads them.
type Dir struct {
	path string

	mu   sync.Mutex
	open map[string]*block
}

// NewDir reads blocks under path; nothing is opened until asked for.
func NewDir(path string) *Dir {
	return &Dir{path: path, open: map[string]*block{}}
}

// Path is the directory read.
func (d *Dir) Path() string { return d.path }

type block struct {
	meta   Meta
	index  *blockIndex
	chunks *segments
	refs   int
	stale  bool // no longer reported: closed when refs drops to 0
}

// Set is a group of blocks held open for one read.
type Set struct {
	dir    *Dir
	blocks []*block // by MinTime
	once   sync.Once
}

// Acquire opens the blocks of metas, or reuses them if open, and holds
// them open until the Set is closed. Open blocks that metas no longer name
// are closed once unused: metas must be all that Prometheus reports.
// want selects which of metas the read needs.
func (d *Dir) Acquire(metas []Meta, want func(Meta) bool) (*Set, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	reported := make(map[string]bool, len(metas))
	for _, m := range metas {
		reported[m.ULID] = true
	}
	for id, b := range d.open {
		if !reported[id] {
			b.stale = true
			if b.refs == 0 {
				b.close()
				delete(d.open, id)
			}
		}
	}
	s := &Set{dir: d}
	for _, m := range metas {
		if !want(m) {
			continue
		}
		b, ok := d.open[m.ULID]
		if !ok || b.meta != m {
			if ok {
				// Same ULID, other range: not the block open. Leave it
				// to its readers.
				b.stale = true
				if b.refs == 0 {
					b.close()
				}
				delete(d.open, m.ULID)
			}
			var err error
			if b, err = openBlock(filepath.Join(d.path, m.ULID), m); err != nil {
				s.closeLocked()
				return nil, err
			}
			d.open[m.ULID] = b
		}
		b.refs++
		s.blocks = append(s.blocks, b)
	}
	return s, nil
}

// Len returns how many blocks s holds.
func (s *Set) Len() int { return len(s.blocks) }

// Close releases the blocks; it is safe to call more than once.
func (s *Set) Close() {
	s.once.Do(func() {
		s.dir.mu.Lock()
		defer s.dir.mu.Unlock()
		s.closeLocked()
	})
}

func (s *Set) closeLocked() {
	for _, b := range s.blocks {
		b.refs--
		if b.refs == 0 && b.stale {
			b.close()
			if s.dir.open[b.meta.ULID] == b {
				delete(s.dir.open, b.meta.ULID)
			}
		}
	}
	s.blocks = nil
}

// Close closes every block; reads must have ended.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for id, b := range d.open {
		errs = append(errs, b.close())
		delete(d.open, id)
	}
	return errors.Join(errs...)
}

func openBlock(dir string, want Meta) (b *block, err error) {
	meta, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	if meta.ULID.String() != want.ULID || meta.MinTime != want.MinTime || meta.MaxTime != want.MaxTime {
		return nil, fmt.Errorf("block %s: its meta.json says %s over [%d, %d), Prometheus says [%d, %d): not the same TSDB", dir, meta.ULID, meta.MinTime, meta.MaxTime, want.MinTime, want.MaxTime)
	}
	segs, err := openSegments(filepath.Join(dir, "chunks"))
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", dir, err)
	}
	ix, err := openIndex(filepath.Join(dir, "index"))
	if err != nil {
		segs.close()
		return nil, fmt.Errorf("block %s: open index: %w", dir, err)
	}
	return &block{meta: want, index: ix, chunks: segs}, nil
}

func readMeta(dir string) (*tsdb.BlockMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read block meta: %w", err)
	}
	var m tsdb.BlockMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("block %s: parse meta.json: %w", dir, err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("block %s: meta.json version %d, want 1", dir, m.Version)
	}
	return &m, nil
}

func (b *block) close() error {
	return errors.Join(b.index.Close(), b.chunks.close())
}
