package reloader

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// gzipMagic starts every gzip stream. The file is sniffed rather than judged
// by its name because a ConfigMap key ending in .gz is mounted under that key,
// and a Secret holding a gzipped config (Secrets are limited to 1 MiB) may not
// end in .gz at all.
var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// render returns the config Prometheus should read: the config file,
// decompressed if gzipped and with $(VAR) references expanded. Without an
// envsubst file Prometheus reads the config file itself, so it is returned
// as it is and only used for change detection.
func (r *Reloader) render() ([]byte, error) {
	b, err := os.ReadFile(r.opts.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	if r.opts.ConfigEnvsubstFile == "" {
		return b, nil
	}
	if bytes.HasPrefix(b, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("gunzip config file %s: %w", r.opts.ConfigFile, err)
		}
		b, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("gunzip config file %s: %w", r.opts.ConfigFile, err)
		}
	}
	out, err := Expand(b, r.opts.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("substitute environment in %s: %w", r.opts.ConfigFile, err)
	}
	return out, nil
}

// hashRuleDirs hashes the path (relative to its directory) and content of
// every file under the rule directories, following symlinks, in a stable
// order.
func hashRuleDirs(h hash.Hash, dirs []string) error {
	for i, dir := range dirs {
		root, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return fmt.Errorf("rule dir %s: %w", dir, err)
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// A mounted ConfigMap holds its real files in ..<timestamp>/ and
			// ..data, with the visible names as symlinks into them. Hashing the
			// visible names only keeps the hash equal when a ConfigMap update
			// leaves the content as it was.
			if path != root && strings.HasPrefix(d.Name(), "..") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := os.Stat(path) // follows the symlink WalkDir does not
			if err != nil {
				return err
			}
			if fi.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			return hashFile(h, fmt.Sprintf("%d/%s", i, rel), path)
		})
		if err != nil {
			return fmt.Errorf("rule dir %s: %w", dir, err)
		}
	}
	return nil
}

func hashFile(h hash.Hash, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Separators keep "a"+"bc" and "ab"+"c" apart.
	fmt.Fprintf(h, "\xff%s\xff", name)
	_, err = io.Copy(h, f)
	return err
}

// stateHash identifies what Prometheus would load: the rendered config and
// the rule files.
func (r *Reloader) stateHash(config []byte) ([]byte, error) {
	h := sha256.New()
	fmt.Fprintf(h, "\xffconfig\xff")
	h.Write(config)
	if err := hashRuleDirs(h, r.opts.RuleDirs); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// writeFileAtomic replaces path with b so that a Prometheus reading it at any
// moment sees either the old or the new content, never a partial file. Only
// its owner may read it: environment variables substituted into a config
// are often secrets.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
