package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
)

// completeMark is written last into a cached dataset's directory: a
// directory without it is the leftover of an interrupted generation.
const completeMark = "complete"

// ensureDataset returns the TSDB directories of both replicas, generating
// them under cacheDir unless an earlier run already did.
func ensureDataset(ctx context.Context, d Dataset, cacheDir string, out io.Writer) (dirs [2]string, info DatasetInfo, err error) {
	root := filepath.Join(cacheDir, d.Key())
	for r, name := range replicaNames {
		dirs[r] = filepath.Join(root, name)
	}
	info = d.info()
	info.Dir = root
	if _, err := os.Stat(filepath.Join(root, completeMark)); err == nil {
		info.Cached = true
		info.BlockBytes, err = dirSize(dirs[0])
		return dirs, info, err
	}
	if err := os.RemoveAll(root); err != nil {
		return dirs, info, err
	}
	fmt.Fprintf(out, "Generating %s in %s\n", info.describe(), root)
	start := time.Now()
	// The replicas are independent: one writer each.
	g, gctx := errgroup.WithContext(ctx)
	for r := range replicaNames {
		g.Go(func() error { return d.generate(gctx, r, dirs[r]) })
	}
	if err := g.Wait(); err != nil {
		return dirs, info, err
	}
	info.GenerateSeconds = time.Since(start).Seconds()
	if err := os.WriteFile(filepath.Join(root, completeMark), nil, 0o644); err != nil {
		return dirs, info, err
	}
	info.BlockBytes, err = dirSize(dirs[0])
	fmt.Fprintf(out, "Generated in %.0fs\n", info.GenerateSeconds)
	return dirs, info, err
}

// dirSize sums the sizes of the block files under dir (Prometheus's own
// files, such as its WAL, are not part of the data).
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "wal" || e.Name() == "chunks_head") {
			return filepath.SkipDir
		}
		if !e.IsDir() {
			fi, err := e.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
