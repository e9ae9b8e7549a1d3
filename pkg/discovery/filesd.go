package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.yaml.in/yaml/v2"
)

// targetGroup is one entry of a Prometheus file_sd file. Labels are accepted
// for compatibility and ignored: endpoints describe themselves through Info.
type targetGroup struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels" json:"labels"`
}

// fileSD reads endpoint addresses from file_sd files and re-reads them when
// their directories change and every interval.
type fileSD struct {
	globs    []string
	interval time.Duration
	logger   *slog.Logger
	metrics  *metrics

	mu    sync.Mutex
	addrs []Address

	// changed has room for one signal: readers only need to know that
	// something changed since they last looked.
	changed chan struct{}
}

// newFileSD reads the files once; a missing file or a bad one is an error so
// that a typo stops the process at startup rather than leaving it empty.
func newFileSD(globs []string, interval time.Duration, logger *slog.Logger, m *metrics) (*fileSD, error) {
	addrs, err := readFileSD(globs, true)
	if err != nil {
		return nil, err
	}
	return &fileSD{
		globs:    globs,
		interval: interval,
		logger:   logger,
		metrics:  m,
		addrs:    addrs,
		changed:  make(chan struct{}, 1),
	}, nil
}

// Addresses returns the addresses of the last good read.
func (f *fileSD) Addresses() []Address {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs
}

// run watches the files' directories rather than the files: Kubernetes
// updates a mounted ConfigMap by swapping a "..data" symlink in the
// directory, which a watch on the old file never sees. The periodic re-read
// covers file systems without inotify events.
func (f *fileSD) run(ctx context.Context) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		f.logger.Warn("Cannot watch file SD files, re-reading them every interval only", "interval", f.interval, "err", err)
	} else {
		defer watcher.Close()
		for _, dir := range watchedDirs(f.globs) {
			if err := watcher.Add(dir); err != nil {
				f.logger.Warn("Cannot watch file SD directory, re-reading it every interval only", "dir", dir, "interval", f.interval, "err", err)
			}
		}
	}
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if watcher != nil {
		events, errs = watcher.Events, watcher.Errors
	}

	ticker := time.NewTicker(f.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.Op == fsnotify.Chmod {
				continue
			}
			f.reload()
		case err := <-errs:
			f.logger.Warn("File SD watch error", "err", err)
		case <-ticker.C:
			f.reload()
		}
	}
}

// reload re-reads the files and keeps the last good addresses if that fails:
// a half-written or mistyped file must not empty the querier.
func (f *fileSD) reload() {
	addrs, err := readFileSD(f.globs, false)
	if err != nil {
		f.metrics.fileSDReadErrors.Inc()
		f.logger.Error("Reading file SD failed, keeping the last good endpoints", "err", err)
		return
	}
	f.mu.Lock()
	same := slices.Equal(addrs, f.addrs)
	f.addrs = addrs
	f.mu.Unlock()
	if same {
		return
	}
	f.logger.Info("File SD endpoints changed", "addresses", len(addrs))
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func watchedDirs(globs []string) []string {
	dirs := make([]string, 0, len(globs))
	for _, g := range globs {
		dirs = append(dirs, filepath.Dir(g))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// readFileSD reads every file that the globs match. Each glob must match at
// least one file. Unless allowEmpty, an empty file is an error: when a file
// is rewritten in place, a read between the truncation and the write sees it
// empty, and that must not remove every endpoint. "[]" lists none.
func readFileSD(globs []string, allowEmpty bool) ([]Address, error) {
	var addrs []Address
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("bad file pattern %q: %w", g, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no file matches %q", g)
		}
		for _, file := range files {
			a, err := readTargetsFile(file, allowEmpty)
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, a...)
		}
	}
	slices.SortFunc(addrs, func(a, b Address) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(addrs), nil
}

func readTargetsFile(path string, allowEmpty bool) ([]Address, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read file SD: %w", err)
	}
	if !allowEmpty && len(bytes.TrimSpace(content)) == 0 {
		return nil, fmt.Errorf("file SD %s is empty (being written?); write [] for no endpoints", path)
	}
	var groups []targetGroup
	if strings.EqualFold(filepath.Ext(path), ".json") {
		dec := json.NewDecoder(bytes.NewReader(content))
		dec.DisallowUnknownFields()
		err = dec.Decode(&groups)
	} else {
		// Strict, so that "target:" instead of "targets:" is an error and
		// not an empty list.
		err = yaml.UnmarshalStrict(content, &groups)
	}
	if err != nil {
		return nil, fmt.Errorf("parse file SD %s: %w", path, err)
	}
	var addrs []Address
	for _, g := range groups {
		for _, t := range g.Targets {
			a, err := ParseAddress(t)
			if err != nil {
				return nil, fmt.Errorf("file SD %s: %w", path, err)
			}
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}
