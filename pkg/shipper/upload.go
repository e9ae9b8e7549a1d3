package shipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/thanos-io/objstore"
	"golang.org/x/sync/errgroup"
)

// inBucket reports whether the bucket holds the block: its meta.json is
// there and reads as this block's. A meta.json cut short (a crash while a
// filesystem bucket wrote it) is not a block, and it is uploaded again.
func (s *Shipper) inBucket(ctx context.Context, id ulid.ULID) (bool, error) {
	name := path.Join(id.String(), metaFilename)
	rc, err := s.bkt.ReaderWithExpectedErrs(s.bkt.IsObjNotFoundErr).Get(ctx, name)
	if s.bkt.IsObjNotFoundErr(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for it in the bucket: %w", err)
	}
	defer rc.Close()
	m, err := decodeMeta(rc)
	if err != nil || m.ULID != id {
		s.logger.Warn("The bucket's meta.json of a block does not read as the block's; uploading it again", "block", id, "err", err)
		return false, nil
	}
	return true, nil
}

// errBlockGone is a block Prometheus deleted (retention, compaction) before
// its upload began: there is nothing left to upload.
var errBlockGone = errors.New("deleted by Prometheus before its upload")

// ship uploads a block unless the bucket holds it already, and reports
// whether it did. A compacted block is not uploaded over a block of the
// same labels (unless out-of-order uploads are allowed, as in Thanos).
func (s *Shipper) ship(ctx context.Context, b localBlock, external labels.Labels, overlaps *overlapChecker) (bool, error) {
	ok, err := s.inBucket(ctx, b.meta.ULID)
	if err != nil || ok {
		return false, err
	}
	if b.meta.Compaction.Level > 1 && !s.opts.AllowOutOfOrder {
		if err := overlaps.check(ctx, b.meta.BlockMeta); err != nil {
			return false, err
		}
	}
	return true, s.upload(ctx, b, external)
}

// upload ships one block: chunks, then index, then meta.json with the
// external labels. A file the bucket already holds at its full size (left
// by an upload that was interrupted) is not sent again.
func (s *Shipper) upload(ctx context.Context, b localBlock, external labels.Labels) error {
	start := time.Now()
	id := b.meta.ULID.String()
	s.logger.Info("Uploading block", "block", id, "min_time", time.UnixMilli(b.meta.MinTime).UTC(), "max_time", time.UnixMilli(b.meta.MaxTime).UTC())
	files, err := b.openFiles(s.opts.HashFunc)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(b.dir); errors.Is(serr, fs.ErrNotExist) {
			return errBlockGone
		}
	}
	if err != nil {
		return err
	}
	defer closeFiles(files)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.UploadConcurrency)
	for _, f := range files {
		if f.rel != indexFilename {
			g.Go(func() error { return s.put(gctx, id, f) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, f := range files {
		if f.rel == indexFilename {
			if err := s.put(ctx, id, f); err != nil {
				return err
			}
		}
	}

	meta := Meta{BlockMeta: b.meta.BlockMeta, Thanos: thanosSection(external.Map(), files)}
	meta.Thanos.UploadTime = time.Now().UTC()
	enc, err := meta.encode()
	if err != nil {
		return err
	}
	if err := s.bkt.Upload(ctx, path.Join(id, metaFilename), bytes.NewReader(enc)); err != nil {
		return fmt.Errorf("upload %s: %w", metaFilename, err)
	}
	s.logger.Info("Uploaded block", "block", id, "files", len(files)+1, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// put uploads one file of block id.
func (s *Shipper) put(ctx context.Context, id string, f blockFile) error {
	name := path.Join(id, f.rel)
	attrs, err := s.bkt.ReaderWithExpectedErrs(s.bkt.IsObjNotFoundErr).Attributes(ctx, name)
	if err == nil && attrs.Size == f.size {
		s.logger.Debug("File already in the bucket", "object", name, "size", f.size)
		return nil
	}
	if _, err := f.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := s.bkt.Upload(ctx, name, f.f); err != nil {
		return fmt.Errorf("upload %s: %w", f.rel, err)
	}
	return nil
}

// overlapChecker refuses a compacted block that overlaps one in the bucket
// with the same external labels: the store gateway would serve both, and
// Thanos's compactor would stop at them. It reads the bucket's metas once,
// when first asked.
type overlapChecker struct {
	bkt      objstore.InstrumentedBucket
	external labels.Labels
	metas    []tsdb.BlockMeta
	loaded   bool
}

func newOverlapChecker(bkt objstore.InstrumentedBucket, external labels.Labels) *overlapChecker {
	return &overlapChecker{bkt: bkt, external: external}
}

func (c *overlapChecker) load(ctx context.Context) error {
	reader := c.bkt.ReaderWithExpectedErrs(c.bkt.IsObjNotFoundErr)
	err := c.bkt.Iter(ctx, "", func(name string) error {
		id, err := ulid.Parse(strings.TrimSuffix(name, objstore.DirDelim))
		if err != nil {
			return nil
		}
		rc, err := reader.Get(ctx, path.Join(id.String(), metaFilename))
		if c.bkt.IsObjNotFoundErr(err) {
			return nil // a partial upload
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		m, err := decodeMeta(rc)
		if err != nil {
			return fmt.Errorf("read meta.json of block %s in the bucket: %w", id, err)
		}
		if labels.Equal(labels.FromMap(m.Thanos.Labels), c.external) {
			c.metas = append(c.metas, m.BlockMeta)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the bucket's blocks: %w", err)
	}
	c.loaded = true
	return nil
}

func (c *overlapChecker) check(ctx context.Context, m tsdb.BlockMeta) error {
	if !c.loaded {
		if err := c.load(ctx); err != nil {
			return err
		}
	}
	metas := append([]tsdb.BlockMeta{m}, c.metas...)
	sort.Slice(metas, func(i, j int) bool { return metas[i].MinTime < metas[j].MinTime })
	if o := tsdb.OverlappingBlocks(metas); len(o) > 0 {
		return fmt.Errorf("compacted, it overlaps blocks in the bucket with the same external labels: %s", o)
	}
	return nil
}

// add records a block just uploaded.
func (c *overlapChecker) add(m tsdb.BlockMeta) {
	if c.loaded {
		c.metas = append(c.metas, m)
	}
}
