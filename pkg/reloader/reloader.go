// Package reloader keeps a Prometheus's config and rules current, as the
// reloader of Thanos's sidecar does: it watches a config file (optionally a
// template with $(VAR) references, optionally gzipped) and rule directories,
// writes the rendered config where Prometheus reads it, and asks Prometheus
// to reload through POST /-/reload whenever what Prometheus would load has
// changed.
package reloader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// settleDelay is how long the reloader waits after the last file-system event
// before it reads the files. Editors and tools that rewrite a file in place
// produce several events, the first while the file is still empty; reading
// then would render, and reload, a truncated config.
const settleDelay = 100 * time.Millisecond

// Options say what to watch and where Prometheus is.
type Options struct {
	// PrometheusURL is the base URL of Prometheus; reloads go to /-/reload
	// under it.
	PrometheusURL *url.URL
	// ConfigFile is the config to watch. Empty watches rule directories
	// only.
	ConfigFile string
	// ConfigEnvsubstFile is where the rendered config is written: ConfigFile
	// gunzipped if it is gzipped, with $(VAR) references expanded. Empty
	// means Prometheus reads ConfigFile itself: it is then only watched.
	ConfigEnvsubstFile string
	// RuleDirs are directories whose files (rules, or anything else the
	// config refers to) trigger a reload when they change.
	RuleDirs []string
	// WatchInterval is how often the files are re-read even without a
	// file-system event, which can be missed (Kubernetes swaps a ConfigMap's
	// files through a symlink). Zero turns watching off: the config is
	// rendered and Prometheus reloaded once, at start.
	WatchInterval time.Duration
	// RetryInterval is how often a failed reload is retried, until it
	// succeeds or a newer change replaces it.
	RetryInterval time.Duration
	// Client sends the reload requests; nil means a default client.
	Client *http.Client
	// LookupEnv resolves $(VAR) references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Reloader watches the files and reloads Prometheus. Create it with New and
// run it with Run.
type Reloader struct {
	opts      Options
	reloadURL string
	logger    *slog.Logger
	metrics   *metrics

	// Owned by Run.
	applied []byte // state hash Prometheus last accepted
	written []byte // hash of what was last written to ConfigEnvsubstFile
}

// New checks the options and registers the reloader's metrics with reg
// (which may be nil).
func New(opts Options, logger *slog.Logger, reg prometheus.Registerer) (*Reloader, error) {
	if opts.PrometheusURL == nil {
		return nil, errors.New("no Prometheus URL")
	}
	if opts.ConfigEnvsubstFile != "" && opts.ConfigFile == "" {
		return nil, errors.New("an envsubst output file needs a config file to render")
	}
	if opts.ConfigEnvsubstFile != "" && filepath.Clean(opts.ConfigEnvsubstFile) == filepath.Clean(opts.ConfigFile) {
		return nil, fmt.Errorf("config file and envsubst output file are the same file %s", opts.ConfigFile)
	}
	if opts.WatchInterval < 0 {
		return nil, fmt.Errorf("negative watch interval %v", opts.WatchInterval)
	}
	if opts.RetryInterval <= 0 {
		return nil, fmt.Errorf("retry interval must be positive, got %v", opts.RetryInterval)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reloader{
		opts:      opts,
		reloadURL: opts.PrometheusURL.JoinPath("/-/reload").String(),
		logger:    logger,
		metrics:   newMetrics(reg),
	}, nil
}

// Enabled says whether there is anything to watch.
func (r *Reloader) Enabled() bool {
	return r.opts.ConfigFile != "" || len(r.opts.RuleDirs) > 0
}

// Run applies the current files, then watches them until ctx is done. It
// returns an error only when the watch cannot be set up; a config that
// cannot be rendered or that Prometheus rejects is logged and counted, and
// the reloader waits for the next change.
func (r *Reloader) Run(ctx context.Context) error {
	if !r.Enabled() {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("create file watcher: %w", err)
	}
	defer w.Close()

	var (
		tick   <-chan time.Time
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if r.opts.WatchInterval > 0 {
		dirs := r.watchedDirs()
		for _, d := range dirs {
			if err := w.Add(d); err != nil {
				return fmt.Errorf("watch %s: %w", d, err)
			}
		}
		r.metrics.watches.Set(float64(len(dirs)))
		ticker := time.NewTicker(r.opts.WatchInterval)
		defer ticker.Stop()
		tick, events, errs = ticker.C, w.Events, w.Errors
	}
	r.logger.Info("config reloader started", "config", r.opts.ConfigFile, "out", r.opts.ConfigEnvsubstFile,
		"rule_dirs", strings.Join(r.opts.RuleDirs, ","), "watch_interval", r.opts.WatchInterval, "reload_url", r.reloadURL)

	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	for {
		// Every path that reaches apply reads the files afresh, so a retry
		// always sends the newest change, never a superseded one.
		if r.apply(ctx) {
			retry.Reset(r.opts.RetryInterval)
		} else {
			retry.Stop()
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev, ok := <-events:
				if !ok {
					return errors.New("file watcher closed")
				}
				r.metrics.watchEvents.Inc()
				r.logger.Debug("file-system event", "event", ev.String())
				settle.Reset(settleDelay)
			case err, ok := <-errs:
				if !ok {
					return errors.New("file watcher closed")
				}
				// Usually an overflow of the kernel's event queue: events were
				// lost, so look at the files now.
				r.metrics.watchErrors.Inc()
				r.logger.Warn("file watcher error", "err", err)
				settle.Reset(settleDelay)
			case <-settle.C:
				break wait
			case <-tick:
				break wait
			case <-retry.C:
				break wait
			}
		}
	}
}

// watchedDirs are the directories to watch: the config file's parent (a
// ConfigMap update replaces the ..data symlink there and never touches the
// file's own name, so watching the file would miss it) and the rule
// directories.
func (r *Reloader) watchedDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d string) {
		d = filepath.Clean(d)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	if r.opts.ConfigFile != "" {
		add(filepath.Dir(r.opts.ConfigFile))
	}
	for _, d := range r.opts.RuleDirs {
		add(d)
	}
	return dirs
}

// apply renders the config, and when what Prometheus would load differs from
// what it last accepted, writes it and asks Prometheus to reload. It reports
// whether to try again after the retry interval.
func (r *Reloader) apply(ctx context.Context) (retry bool) {
	r.metrics.applies.Inc()
	var config []byte
	if r.opts.ConfigFile != "" {
		var err error
		if config, err = r.render(); err != nil {
			// Retrying would fail the same way until the file changes, and
			// a change triggers apply anyway.
			r.applyFailed(err)
			return false
		}
	}
	state, err := r.stateHash(config)
	if err != nil {
		r.applyFailed(err)
		return false
	}
	if bytes.Equal(state, r.applied) {
		return false
	}
	if r.opts.ConfigEnvsubstFile != "" {
		sum := sha256.Sum256(config)
		if !bytes.Equal(sum[:], r.written) {
			if err := writeFileAtomic(r.opts.ConfigEnvsubstFile, config); err != nil {
				r.applyFailed(fmt.Errorf("write envsubst file: %w", err))
				return true // e.g. a full disk: worth another try
			}
			r.written = sum[:]
		}
	}

	r.metrics.reloads.Inc()
	if err := r.reload(ctx); err != nil {
		if ctx.Err() != nil {
			return false
		}
		r.metrics.reloadFailures.Inc()
		r.metrics.lastReloadSuccess.Set(0)
		r.logger.Error("Prometheus reload failed; Prometheus keeps its previous config and rules", "err", err, "retry_in", r.opts.RetryInterval)
		return true
	}
	r.applied = state
	r.metrics.lastReloadSuccess.Set(1)
	r.metrics.lastReloadSuccessTime.SetToCurrentTime()
	r.metrics.configHash.Set(hashValue(config))
	r.logger.Info("Prometheus reloaded", "config", r.opts.ConfigFile, "out", r.opts.ConfigEnvsubstFile, "rule_dirs", strings.Join(r.opts.RuleDirs, ","))
	return false
}

func (r *Reloader) applyFailed(err error) {
	r.metrics.applyFailures.Inc()
	r.logger.Error("config not applied; Prometheus keeps its previous config and rules", "err", err)
}
