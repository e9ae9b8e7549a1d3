package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Target tracks what the sidecar must know about its Prometheus: whether it
// answers, its external labels and the oldest data it holds.
//
// Nothing waits on Prometheus under the lock: a refresh runs on its own,
// one at a time, bounded by a timeout, and what the last one learnt is
// served meanwhile. A Prometheus that hangs thus never holds up a Series
// call whose labels are known, and Info and readiness say so within
// answerWithin instead of hanging with it.
type Target struct {
	client *Client
	logger *slog.Logger
	opts   TargetOptions

	mu        sync.Mutex
	state     targetState    // what the last refresh learnt
	flight    *refreshFlight // the refresh running, or nil
	loggedOK  bool
	blocksErr changeLog // of listing the blocks
}

// TargetOptions say how a Target keeps its answers fresh.
type TargetOptions struct {
	// MinTime, if not nil, is the oldest time served (--min-time) as of
	// now, in ms: a relative floor moves with the clock.
	MinTime func(now time.Time) int64
	// MaxAge is how old an answer may be when asked for before it is
	// refreshed, so that a stopped Prometheus is noticed at the next
	// Info call rather than at the next poll.
	MaxAge time.Duration
	// Timeout bounds one refresh (--prometheus.get_config_timeout).
	Timeout time.Duration
	// Blocks asks Prometheus at each refresh which blocks it has loaded,
	// for reading them from its data directory.
	Blocks bool
}

type targetState struct {
	checked  time.Time // zero: never
	external labels.Labels
	lowest   int64
	blocks   blockPlan // which reads the blocks answer
	err      error
}

type refreshFlight struct {
	started time.Time
	done    chan struct{} // closed once the state holds its answer
}

// errNoExternalLabels is a Prometheus that answers but has no external
// labels.
var errNoExternalLabels = errors.New("no external labels")

// answerWithin is how long Info and readiness wait for a refresh in
// flight before they report that Prometheus does not answer.
const answerWithin = time.Second

// NewTarget returns a Target for the Prometheus behind client.
func NewTarget(client *Client, logger *slog.Logger, opts TargetOptions) *Target {
	return &Target{client: client, logger: logger, opts: opts}
}

// Refresh asks Prometheus for its configuration and lowest timestamp, and
// waits for the answer (or ctx). A refresh already running is joined.
func (t *Target) Refresh(ctx context.Context) error {
	t.mu.Lock()
	f := t.startLocked()
	t.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.err
}

// startLocked starts a refresh unless one is running, and returns the one
// running. t.mu must be held.
func (t *Target) startLocked() *refreshFlight {
	if t.flight == nil {
		t.flight = &refreshFlight{started: time.Now(), done: make(chan struct{})}
		go t.refresh(t.flight)
	}
	return t.flight
}

// refresh asks Prometheus under its own timeout: whoever asked for it may
// give up, which says nothing about Prometheus.
func (t *Target) refresh(f *refreshFlight) {
	ctx, cancel := context.WithTimeout(context.Background(), t.opts.Timeout)
	defer cancel()
	st, err := t.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("the Prometheus at %s did not answer within %v (--prometheus.get_config_timeout): %w", t.client.URL(), t.opts.Timeout, err)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	defer close(f.done)
	t.flight = nil
	if err != nil {
		if t.state.err == nil || t.state.err.Error() != err.Error() {
			t.logger.Error("Prometheus not usable; Info fails and the sidecar is not ready", "err", err)
		}
		// The labels last known stay for the Series calls that need them,
		// unless Prometheus said it has none.
		if errors.Is(err, errNoExternalLabels) {
			t.state.external = labels.EmptyLabels()
		}
		t.state.checked, t.state.err, t.loggedOK = time.Now(), err, false
		return
	}
	st.checked = time.Now()
	t.state = st
	if !t.loggedOK {
		t.logger.Info("Prometheus usable", "url", t.client.URL(), "external_labels", st.external.String())
		t.loggedOK = true
	}
}
func (t *Target) fetch(ctx context.Context) (targetState, error) {
	st := targetState{external: labels.EmptyLabels()}
	cfg, err := t.client.config(ctx)
	if err != nil {
		return st, fmt.Errorf("read external labels from Prometheus at %s: %w", t.client.URL(), err)
	}
	if cfg.external.IsEmpty() {
		return st, fmt.Errorf("%w in the Prometheus at %s: its data can't be told apart from other replicas' and can't be deduplicated; set global.external_labels in its configuration (e.g. replica: $(POD_NAME))", errNoExternalLabels, t.client.URL())
	}
	times, err := t.client.times(ctx)
	if err != nil {
		return st, fmt.Errorf("read lowest timestamp from Prometheus at %s: %w", t.client.URL(), err)
	}
	st.external, st.lowest = cfg.external, times.lowest
	view := tsdbView{headMin: times.headMin, oooWindow: cfg.oooWindow}
	if t.opts.Blocks {
		// Without the list, every read goes through remote read; that is
		// slower, not wrong, so it does not make Prometheus unusable.
		if view.blocks, err = t.client.loadedBlocks(ctx); err != nil {
			t.blocksErr.warn(t.logger, "cannot list the blocks Prometheus has loaded; reading everything through remote read", err)
		}
	}
	st.blocks = plan(view)
	return st, nil
}

// BlockPlan is which reads the blocks answer, as of the last refresh.
func (t *Target) BlockPlan() blockPlan {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.blocks
}

// stale reports whether the state is due for a refresh: a failure is
// retried sooner than a success. t.mu must be held.
func (t *Target) staleLocked() bool {
	age := time.Since(t.state.checked)
	return t.state.checked.IsZero() || age > t.opts.MaxAge || (t.state.err != nil && age > t.opts.MaxAge/4)
}

// ExternalLabels returns the external labels, or why they are not known.
// Labels once known are returned at once, refreshed behind the caller's
// back when they are old; otherwise it waits for a refresh (or ctx).
func (t *Target) ExternalLabels(ctx context.Context) (labels.Labels, error) {
	t.mu.Lock()
	s := t.state
	var f *refreshFlight
	if t.staleLocked() {
		f = t.startLocked()
	}
	t.mu.Unlock()
	if !s.external.IsEmpty() {
		return s.external, nil
	}
	if f == nil {
		return s.external, s.err
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return labels.EmptyLabels(), ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.external, t.state.err
}

// health returns the state if it is fresh, refreshing it first when it is
// not; a refresh that takes longer than answerWithin is an error itself.
func (t *Target) health(ctx context.Context) (targetState, error) {
	t.mu.Lock()
	f := t.flight
	if t.staleLocked() {
		f = t.startLocked()
	}
	s := t.state
	t.mu.Unlock()
	if f != nil {
		timer := time.NewTimer(time.Until(f.started.Add(answerWithin)))
		defer timer.Stop()
		select {
		case <-f.done:
		case <-ctx.Done():
			return s, ctx.Err()
		case <-timer.C:
			return s, fmt.Errorf("the Prometheus at %s has not answered for %v", t.client.URL(), time.Since(f.started).Round(time.Millisecond))
		}
		t.mu.Lock()
		s = t.state
		t.mu.Unlock()
	}
	return s, s.err
}

// Ready returns nil when the sidecar can serve, or why not, within
// answerWithin.
func (t *Target) Ready(ctx context.Context) error {
	_, err := t.health(ctx)
	return err
}

// Run refreshes every interval until ctx ends.
func (t *Target) Run(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			_ = t.Refresh(ctx)
		}
	}
}

// WaitReady blocks until Prometheus is usable or timeout passes.
func (t *Target) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := t.client.Ready(ctx)
		if err == nil {
			if err = t.Refresh(ctx); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Prometheus is not usable after %v: %w", timeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// MinTime is the oldest time the sidecar serves now (--min-time), in ms.
func (t *Target) MinTime() int64 {
	if t.opts.MinTime == nil {
		return math.MinInt64
	}
	return t.opts.MinTime(time.Now())
}

// Info implements the thanos.info.Info service.
func (t *Target) Info(ctx context.Context, _ *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	st, err := t.health(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	external := st.external
	mint := max(st.lowest, t.MinTime())
	if now := time.Now().UnixMilli(); mint > now {
		// An empty TSDB reports "no data" as the largest time; data may
		// arrive any moment, and the querier must ask for it then.
		mint = now
	}
	lsets := labelpb.ZLabelSetsFromPromLabels(external.Copy())
	return &infopb.InfoResponse{
		LabelSets:     lsets,
		ComponentType: "sidecar",
		Store: &infopb.StoreInfo{
			MinTime:                      mint,
			MaxTime:                      math.MaxInt64,
			SupportsWithoutReplicaLabels: true,
			TsdbInfos: []infopb.TSDBInfo{{
				Labels:  lsets[0],
				MinTime: mint,
				MaxTime: math.MaxInt64,
			}},
		},
	}, nil
}
