// Package shipper uploads the blocks a Prometheus cuts to object storage, as
// Thanos's sidecar does, so that a Thanos store gateway serves them after
// Prometheus's retention has dropped them. Every block is uploaded once:
// its chunks and index first and its meta.json, with Thanos's "thanos"
// section, last, so that a reader that finds a meta.json finds a whole
// block. The blocks uploaded are recorded in Thanos's shipper meta file in
// the TSDB directory; nothing in Prometheus's blocks is written or
// deleted.
package shipper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
)

// Options say which blocks to ship and how.
type Options struct {
	// Dir is Prometheus's TSDB directory (--tsdb.path).
	Dir string
	// MetaFileName is the shipper's meta file in Dir; empty means
	// DefaultMetaFileName.
	MetaFileName string
	// Labels returns Prometheus's external labels, which every block is
	// uploaded with; a block is never uploaded without them.
	Labels func(context.Context) (labels.Labels, error)
	// Check, if not nil, must pass once before anything is uploaded; see
	// CheckPrometheus.
	Check func(context.Context) error
	// UploadCompacted uploads blocks Prometheus has compacted, too, once
	// no block of the same labels in the bucket overlaps them.
	UploadCompacted bool
	// AllowOutOfOrder goes on to newer blocks when one fails to upload,
	// instead of retrying the oldest first.
	AllowOutOfOrder bool
	// SkipCorrupted ships the other blocks when a block's meta.json cannot
	// be read, instead of none.
	SkipCorrupted bool
	// HashFunc, HashSHA256 or empty, records each file's hash in meta.json.
	HashFunc string
	// UploadConcurrency is how many chunk files of a block are uploaded at
	// once; below 1 means 1.
	UploadConcurrency int
	// Interval is how often the directory is read again without a new
	// block appearing in it; zero means 30s, Thanos's.
	Interval time.Duration
}

// Shipper uploads a TSDB directory's blocks to a bucket. Create it with
// New; Run it, or call Sync, from one goroutine.
type Shipper struct {
	bkt      objstore.InstrumentedBucket
	opts     Options
	metaFile string
	logger   *slog.Logger
	metrics  *metrics
	checked  bool // opts.Check has passed
}

// New returns a shipper of opts.Dir's blocks to bkt, registering its
// metrics with reg (which may be nil).
func New(bkt objstore.InstrumentedBucket, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Shipper, error) {
	if opts.Dir == "" {
		return nil, errors.New("no TSDB directory")
	}
	if opts.Labels == nil {
		return nil, errors.New("no external labels")
	}
	if opts.HashFunc != "" && opts.HashFunc != HashSHA256 {
		return nil, fmt.Errorf("hash function %q is not supported; use %s or none", opts.HashFunc, HashSHA256)
	}
	if opts.MetaFileName == "" {
		opts.MetaFileName = DefaultMetaFileName
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	opts.UploadConcurrency = max(opts.UploadConcurrency, 1)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Shipper{
		bkt:      bkt,
		opts:     opts,
		metaFile: filepath.Join(opts.Dir, filepath.Clean(opts.MetaFileName)),
		logger:   logger,
		metrics:  newMetrics(reg),
	}, nil
}

// MetaFile is the path of the shipper's meta file.
func (s *Shipper) MetaFile() string { return s.metaFile }

// Sync uploads every block due that the bucket does not hold, oldest
// first, and returns how many it uploaded. It stops at the first block that
// fails (unless AllowOutOfOrder), so that blocks reach the bucket in order;
// what it did upload stays uploaded.
func (s *Shipper) Sync(ctx context.Context) (uploaded int, err error) {
	defer func() {
		if err != nil {
			s.metrics.dirSyncFailures.Inc()
		} else {
			s.metrics.dirSyncs.Inc()
		}
	}()
	if !s.checked && s.opts.Check != nil {
		if err := s.opts.Check(ctx); err != nil {
			return 0, fmt.Errorf("not uploading: %w", err)
		}
		s.checked = true
	}
	lset, err := s.opts.Labels(ctx)
	if err == nil && lset.IsEmpty() {
		err = errors.New("none are configured in Prometheus")
	}
	if err != nil {
		return 0, fmt.Errorf("not uploading without external labels: %w", err)
	}
	blocks, broken, err := localBlocks(s.opts.Dir)
	if err != nil {
		return 0, err
	}
	if len(broken) > 0 {
		s.metrics.corruptedBlocks.Add(float64(len(broken)))
		if !s.opts.SkipCorrupted {
			return 0, errors.Join(broken...)
		}
		for _, err := range broken {
			s.logger.Error("Skipping a block that cannot be read", "err", err)
		}
	}

	shipped := s.previouslyShipped()
	record := func() {
		// Only blocks still on disk are listed, as in Thanos.
		var st state
		for _, b := range blocks {
			if shipped[b.meta.ULID] {
				st.Uploaded = append(st.Uploaded, b.meta.ULID)
			}
		}
		if err := writeState(s.metaFile, &st); err != nil {
			s.logger.Warn("Writing the shipper meta file failed", "file", s.metaFile, "err", err)
		}
	}
	defer record()

	overlaps := newOverlapChecker(s.bkt, lset)
	var failed int
	for _, b := range blocks {
		m := b.meta
		if shipped[m.ULID] {
			continue
		}
		if m.Stats.NumSamples == 0 {
			continue // Prometheus drops empty blocks; Thanos never ships them
		}
		if m.Compaction.Level > 1 && !s.opts.UploadCompacted {
			continue
		}
		sent, err := s.ship(ctx, b, lset, overlaps)
		if errors.Is(err, errBlockGone) {
			s.logger.Error("Prometheus deleted a block before it could be uploaded: its data is not in the bucket", "block", m.ULID)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return uploaded, ctx.Err()
			}
			s.metrics.uploadFailures.Inc()
			err = fmt.Errorf("upload block %s: %w", m.ULID, err)
			if !s.opts.AllowOutOfOrder {
				return uploaded, err
			}
			s.logger.Error("Upload failed; it is retried at the next pass", "err", err)
			failed++
			continue
		}
		shipped[m.ULID] = true
		if !sent {
			continue
		}
		overlaps.add(m.BlockMeta)
		uploaded++
		s.metrics.uploads.Inc()
		record()
	}
	if failed > 0 {
		return uploaded, fmt.Errorf("%d blocks failed to upload", failed)
	}
	if len(broken) > 0 {
		return uploaded, fmt.Errorf("%d blocks could not be read", len(broken))
	}
	if s.opts.UploadCompacted {
		s.metrics.uploadedCompacted.Set(1)
	}
	return uploaded, nil
}

// previouslyShipped is the set the meta file lists; a missing or unreadable
// file is an empty set, as then the bucket is asked about every block.
func (s *Shipper) previouslyShipped() map[ulid.ULID]bool {
	shipped := map[ulid.ULID]bool{}
	st, err := readState(s.metaFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("Reading the shipper meta file failed; asking the bucket about every block", "err", err)
		}
		return shipped
	}
	for _, id := range st.Uploaded {
		shipped[id] = true
	}
	return shipped
}
