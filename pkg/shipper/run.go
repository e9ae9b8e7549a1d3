package shipper

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/oklog/ulid/v2"
)

// Retries after a failed pass start at minRetry and double up to the
// interval: a bucket outage costs a few requests a minute, and uploads
// resume within seconds of its end.
const minRetry = time.Second

// Run ships blocks until ctx ends: once Prometheus's external labels are
// known, then whenever a block appears in the directory, every interval,
// and after a failure with backoff. Failures are logged and counted, never
// returned: the sidecar goes on serving.
func (s *Shipper) Run(ctx context.Context) error {
	if !s.waitLabels(ctx) {
		return nil
	}
	newBlock := s.watch(ctx)
	retry := minRetry
	for {
		wait := s.opts.Interval
		n, ok, err := s.syncUntil(ctx)
		if !ok {
			return nil
		}
		if err != nil {
			s.logger.Warn("Shipping blocks failed; retrying", "err", err, "uploaded", n, "retry_in", retry)
			wait, retry = retry, min(2*retry, s.opts.Interval)
		} else {
			retry = minRetry
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-newBlock:
			timer.Stop()
		}
	}
}

// abandonAfter is how long a pass may go on once the shipper is stopped.
const abandonAfter = 3 * time.Second

// syncUntil runs Sync, and returns ok false once ctx has ended and the pass
// has returned, or abandonAfter later: a bucket write that does not heed
// ctx (a filesystem bucket on a hung mount) must not hold up the sidecar's
// exit. The upload it leaves has no meta.json and is completed at the next
// start.
func (s *Shipper) syncUntil(ctx context.Context) (n int, ok bool, err error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.Sync(ctx)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, ctx.Err() == nil, r.err
	case <-ctx.Done():
	}
	timer := time.NewTimer(abandonAfter)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.logger.Warn("Stopping during an upload that does not end; it is completed at the next start")
	}
	return 0, false, nil
}

// waitLabels waits until Prometheus's external labels are known, as a
// sidecar that has just started waits for Prometheus; false if ctx ended.
func (s *Shipper) waitLabels(ctx context.Context) bool {
	backoff := 100 * time.Millisecond
	for {
		lset, err := s.opts.Labels(ctx)
		if err == nil && !lset.IsEmpty() {
			return true
		}
		s.logger.Debug("Waiting for Prometheus's external labels before uploading", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watch signals when a block directory appears in the TSDB directory (a
// rename of Prometheus's temporary one) until ctx ends. Without a watch
// (e.g. the directory does not exist yet) it never signals, and the
// interval alone paces the passes.
func (s *Shipper) watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.logger.Warn("Watching the TSDB directory failed; reading it every interval", "err", err, "interval", s.opts.Interval)
		return out
	}
	if err := w.Add(s.opts.Dir); err != nil {
		_ = w.Close()
		s.logger.Warn("Watching the TSDB directory failed; reading it every interval", "dir", s.opts.Dir, "err", err, "interval", s.opts.Interval)
		return out
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				s.logger.Debug("Watching the TSDB directory", "err", err)
			case ev := <-w.Events:
				if _, err := ulid.Parse(filepath.Base(ev.Name)); err != nil || !ev.Has(fsnotify.Create) {
					continue
				}
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
