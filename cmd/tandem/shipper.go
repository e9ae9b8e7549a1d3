package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tandem-metrics/tandem/pkg/shipper"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// shipperFlags are Thanos's sidecar flags for uploading blocks to object
// storage, with its names and defaults.
type shipperFlags struct {
	objstore          *pathOrContent
	tsdbPath          string
	uploadCompacted   bool
	ignoreUnequal     bool
	allowOutOfOrder   bool
	skipCorrupted     bool
	metaFileName      string
	uploadConcurrency int
	hashFunc          string
}

// registerTSDBPath declares --tsdb.path, where the shipper finds the
// blocks.
func (f *shipperFlags) registerTSDBPath(cmd *kingpin.CmdClause) {
	cmd.Flag("tsdb.path", "Data directory of Prometheus's TSDB, whose blocks are uploaded with --objstore.config; the shipper's meta file is written there.").
		Default("./data").StringVar(&f.tsdbPath)
}

func (f *shipperFlags) register(cmd *kingpin.CmdClause) {
	f.objstore = registerPathOrContent(cmd, "objstore.config",
		"YAML with the object store config, in Thanos's format (type, config, prefix); every block Prometheus cuts is uploaded there. Empty: nothing is uploaded. $(VAR) is replaced by the environment variable VAR.", true)
	cmd.Flag("shipper.upload-compacted", "Upload blocks Prometheus has compacted too, once none in the bucket with the same external labels overlaps them: for moving a Prometheus with history to object storage; needs compaction off in Prometheus.").
		Default("false").BoolVar(&f.uploadCompacted)
	cmd.Flag("shipper.ignore-unequal-block-size", "Upload even though Prometheus compacts its blocks (min and max block durations differ); a block compacted before its upload never reaches the bucket.").
		Default("false").BoolVar(&f.ignoreUnequal)
	cmd.Flag("shipper.allow-out-of-order-uploads", "Go on to newer blocks when a block fails to upload, retrying it later, instead of keeping blocks in order.").
		Default("false").Hidden().BoolVar(&f.allowOutOfOrder)
	cmd.Flag("shipper.skip-corrupted-blocks", "Upload the other blocks when a block's meta.json cannot be read, instead of none.").
		Default("false").Hidden().BoolVar(&f.skipCorrupted)
	cmd.Flag("shipper.meta-file-name", "File in --tsdb.path that lists the blocks uploaded (Thanos's format).").
		Default(shipper.DefaultMetaFileName).StringVar(&f.metaFileName)
	cmd.Flag("shipper.upload-concurrency", "Chunk files of a block uploaded at once (0 means 1).").
		Default("0").IntVar(&f.uploadConcurrency)
	cmd.Flag("hash-func", "Hash function recorded in meta.json for every file uploaded: SHA256, or empty for none.").
		Default("").EnumVar(&f.hashFunc, shipper.HashSHA256, "")
}

// build returns the shipper's actor, or nil when no object store is
// configured, as in Thanos.
func (f *shipperFlags) build(env environment, prom *promstore.Client, target *promstore.Target) (func(context.Context) error, error) {
	conf, err := f.objstore.read()
	if err != nil {
		return nil, err
	}
	logger := env.logger.With("component", "shipper")
	if len(bytes.TrimSpace(conf)) == 0 {
		logger.Info("No object store configured (--objstore.config); blocks are not uploaded")
		return nil, nil
	}
	bkt, err := shipper.NewBucket(conf, logger, env.reg, env.tracer.Tracer("objstore"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.objstore.flag(), err)
	}
	var s *shipper.Shipper
	s, err = shipper.New(bkt, shipper.Options{
		Dir:          f.tsdbPath,
		MetaFileName: f.metaFileName,
		Labels:       target.ExternalLabels,
		Check: func(ctx context.Context) error {
			return shipper.CheckPrometheus(ctx, prom, s.MetaFile(), f.ignoreUnequal, logger)
		},
		UploadCompacted:   f.uploadCompacted,
		AllowOutOfOrder:   f.allowOutOfOrder,
		SkipCorrupted:     f.skipCorrupted,
		HashFunc:          f.hashFunc,
		UploadConcurrency: f.uploadConcurrency,
	}, logger, env.reg)
	if err != nil {
		_ = bkt.Close()
		return nil, fmt.Errorf("--tsdb.path, --shipper.*: %w", err)
	}
	if fi, err := os.Stat(f.tsdbPath); err != nil || !fi.IsDir() {
		logger.Warn("--tsdb.path is not a directory (yet); blocks are uploaded once Prometheus writes them there", "path", f.tsdbPath)
	}
	logger.Info("Uploading blocks", "bucket", bkt.Name(), "tsdb_path", f.tsdbPath, "meta_file", s.MetaFile())
	return func(ctx context.Context) error {
		defer bkt.Close()
		return s.Run(ctx)
	}, nil
}
