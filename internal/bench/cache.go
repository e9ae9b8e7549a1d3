package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
		info.BlockBytes, info.HeadBytes, err = dataSize(dirs[0])
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
	info.BlockBytes, info.HeadBytes, err = dataSize(dirs[0])
	fmt.Fprintf(out, "Generated in %.0fs\n", info.GenerateSeconds)
	return dirs, info, err
}

// dataSize sums the sizes of the files under the TSDB directory dir: its
// blocks' and its head's (WAL and m-mapped chunks).
func dataSize(dir string) (blocks, head int64, err error) {
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if inBlock(dir, rel) {
			blocks += fi.Size()
		} else {
			head += fi.Size()
		}
		return nil
	})
	return blocks, head, err
}

// copyData makes dst a TSDB directory holding what src does, for a
// Prometheus to run on without changing src. Prometheus writes to its head's
// files (WAL, m-mapped chunks, a repair may truncate them), so those are
// copied; a block it never writes to, only replaces or deletes its files,
// so blocks are hard links.
func copyData(src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if inBlock(src, rel) && os.Link(path, target) == nil {
			return nil
		}
		// Not a block's, or on another file system than the cache.
		return copyFile(path, target)
	})
}

// inBlock reports whether the file rel of the TSDB directory dir is a
// block's: under a directory with a meta.json.
func inBlock(dir, rel string) bool {
	top, _, nested := strings.Cut(rel, string(filepath.Separator))
	if !nested {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, top, "meta.json"))
	return err == nil
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
