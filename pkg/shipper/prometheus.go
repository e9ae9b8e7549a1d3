package shipper

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
)

// FlagReader reads a running Prometheus's command-line flags
// (GET /api/v1/status/flags).
type FlagReader interface {
	Flags(ctx context.Context) (map[string]string, error)
}

// CheckPrometheus says whether the blocks of the Prometheus behind p can be
// shipped as it cuts them, as Thanos's sidecar checks before it uploads. A
// Prometheus that compacts its blocks (a larger
// --storage.tsdb.max-block-duration than min-block-duration) may merge a
// block before it is uploaded, and the merged block is not uploaded
// (only level-1 blocks are, without UploadCompacted): unless Prometheus
// delays compaction until the shipper's meta file (metaFile) lists a block
// (--storage.tsdb.delay-compact-file.path), that is an error, or a warning
// with ignoreUnequal (--shipper.ignore-unequal-block-size).
func CheckPrometheus(ctx context.Context, p FlagReader, metaFile string, ignoreUnequal bool, logger *slog.Logger) error {
	flags, err := p.Flags(ctx)
	if err != nil {
		return fmt.Errorf("read Prometheus's flags: %w", err)
	}
	warnings, err := checkFlags(flags, metaFile, ignoreUnequal)
	for _, w := range warnings {
		logger.Warn(w)
	}
	return err
}

// checkFlags is CheckPrometheus on the flags read.
func checkFlags(flags map[string]string, metaFile string, ignoreUnequal bool) (warnings []string, _ error) {
	delay := flags["storage.tsdb.delay-compact-file.path"]
	if delay != "" && filepath.Clean(delay) != filepath.Clean(metaFile) {
		return nil, fmt.Errorf("compaction waits for uploads by Prometheus's --storage.tsdb.delay-compact-file.path=%s, but the shipper writes %s (--tsdb.path and --shipper.meta-file-name): they must be the same file", delay, metaFile)
	}
	minBlock, err := model.ParseDuration(flags["storage.tsdb.min-block-duration"])
	if err != nil {
		return nil, fmt.Errorf("parse Prometheus's --storage.tsdb.min-block-duration: %w", err)
	}
	maxBlock, err := model.ParseDuration(flags["storage.tsdb.max-block-duration"])
	if err != nil {
		return nil, fmt.Errorf("parse Prometheus's --storage.tsdb.max-block-duration: %w", err)
	}
	if minBlock != maxBlock && delay == "" {
		msg := fmt.Sprintf("Prometheus compacts its blocks (--storage.tsdb.min-block-duration=%s, --storage.tsdb.max-block-duration=%s): a block compacted before it is uploaded never reaches the bucket", minBlock, maxBlock)
		if !ignoreUnequal {
			return nil, fmt.Errorf("%s; set both to the same value (2h), or point --storage.tsdb.delay-compact-file.path at %s", msg, metaFile)
		}
		warnings = append(warnings, msg+"; uploading all the same, as --shipper.ignore-unequal-block-size asks")
	}
	if time.Duration(minBlock) != 2*time.Hour {
		warnings = append(warnings, fmt.Sprintf("Prometheus's blocks are %s long, not 2h as Thanos's store gateway and compactor expect", minBlock))
	}
	return warnings, nil
}
