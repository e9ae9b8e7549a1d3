package prometheus

import (
	"context"
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
type Target struct {
	client  *Client
	logger  *slog.Logger
	minTime func(now time.Time) int64 // the --min-time floor, in ms; nil if none
	maxAge  time.Duration

	mu       sync.Mutex
	checked  time.Time
	external labels.Labels
	lowest   int64
	err      error
	loggedOK bool
}

// NewTarget returns a Target for the Prometheus behind client. Answers older
// than maxAge are refreshed when asked for, so that a stopped Prometheus is
// noticed at the next Info call rather than at the next poll. minTime, if
// not nil, is the oldest time served (--min-time) as of now: a relative
// floor moves with the clock.
func NewTarget(client *Client, logger *slog.Logger, minTime func(now time.Time) int64, maxAge time.Duration) *Target {
	return &Target{client: client, logger: logger, minTime: minTime, maxAge: maxAge}
}

// Refresh asks Prometheus for its configuration and lowest timestamp.
func (t *Target) Refresh(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refreshLocked(ctx)
}

func (t *Target) refreshLocked(ctx context.Context) error {
	external, lowest, err := t.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		// The caller gave up (a cancelled query, a client gone): that says
		// nothing about Prometheus, so the state stays as it was.
		return err
	}
	t.checked = time.Now()
	if err != nil {
		if t.err == nil || t.err.Error() != err.Error() {
			t.logger.Error("Prometheus not usable; Info fails and the sidecar is not ready", "err", err)
		}
		t.err, t.loggedOK = err, false
		return err
	}
	t.external, t.lowest, t.err = external, lowest, nil
	if !t.loggedOK {
		t.logger.Info("Prometheus usable", "url", t.client.URL(), "external_labels", external.String())
		t.loggedOK = true
	}
	return nil
}

func (t *Target) fetch(ctx context.Context) (labels.Labels, int64, error) {
	external, err := t.client.ExternalLabels(ctx)
	if err != nil {
		return labels.EmptyLabels(), 0, fmt.Errorf("read external labels from Prometheus at %s: %w", t.client.URL(), err)
	}
	if external.IsEmpty() {
		return labels.EmptyLabels(), 0, fmt.Errorf("no external labels in the Prometheus at %s: its data can't be told apart from other replicas' and can't be deduplicated; set global.external_labels in its configuration (e.g. replica: $(POD_NAME))", t.client.URL())
	}
	lowest, err := t.client.LowestTimestamp(ctx)
	if err != nil {
		return labels.EmptyLabels(), 0, fmt.Errorf("read lowest timestamp from Prometheus at %s: %w", t.client.URL(), err)
	}
	return external, lowest, nil
}

func (t *Target) current(ctx context.Context) (labels.Labels, int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.checked) > t.maxAge || (t.err != nil && time.Since(t.checked) > t.maxAge/4) {
		if err := t.refreshLocked(ctx); err != nil && ctx.Err() != nil {
			return labels.EmptyLabels(), 0, err
		}
	}
	return t.external, t.lowest, t.err
}

// ExternalLabels returns the external labels, or why they are not known.
func (t *Target) ExternalLabels(ctx context.Context) (labels.Labels, error) {
	ext, _, err := t.current(ctx)
	return ext, err
}

// Ready returns nil when the sidecar can serve.
func (t *Target) Ready(ctx context.Context) error {
	_, _, err := t.current(ctx)
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
	if t.minTime == nil {
		return math.MinInt64
	}
	return t.minTime(time.Now())
}

// Info implements the thanos.info.Info service.
func (t *Target) Info(ctx context.Context, _ *infopb.InfoRequest) (*infopb.InfoResponse, error) {
	external, lowest, err := t.current(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	mint := max(lowest, t.MinTime())
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
