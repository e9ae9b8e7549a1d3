package shipper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/wait"
)

// run runs the fixture's shipper until the test ends.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.shipper.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := wait.Receive(t, done, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitBlocks waits until the bucket holds exactly want.
func (f *fixture) waitBlocks(t *testing.T, timeout time.Duration, want []string) {
	t.Helper()
	wait.Until(t, timeout, "blocks in the bucket", func() error {
		if got := blocksIn(t, f.bucket); !slices.Equal(got, want) {
			return fmt.Errorf("bucket holds %v, want %v", got, want)
		}
		return nil
	})
}

// TestRunShipsBlocksAsTheyAppear checks that a block is uploaded as soon as
// it appears, long before the interval, once the external labels are known.
func TestRunShipsBlocksAsTheyAppear(t *testing.T) {
	calls := 0
	f := newFixture(t, Options{Interval: time.Hour, Labels: func(context.Context) (labels.Labels, error) {
		if calls++; calls < 3 {
			return labels.EmptyLabels(), errors.New("Prometheus is starting")
		}
		return external, nil
	}})
	f.run(t)
	b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	f.waitBlocks(t, 10*time.Second, ids(b1))
	b2 := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
	f.waitBlocks(t, 10*time.Second, ids(b1, b2))
}

// TestRunRetriesThroughAnOutage breaks the bucket: passes fail, are retried
// with backoff long before the interval, and the blocks are uploaded once
// the bucket is back.
func TestRunRetriesThroughAnOutage(t *testing.T) {
	f := newFixture(t, Options{Interval: time.Hour})
	b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	if err := os.WriteFile(f.bucket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	wait.Until(t, 10*time.Second, "two failed passes", func() error {
		if n := f.metric(t, "thanos_shipper_dir_sync_failures_total"); n < 2 {
			return fmt.Errorf("%v failed passes", n)
		}
		return nil
	})
	remove(t, f.bucket)
	f.waitBlocks(t, 10*time.Second, ids(b1))
}
