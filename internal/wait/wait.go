// Package wait is how tests wait for something without sleeping as a means
// of synchronisation: they poll a condition, or receive from a channel, with
// a deadline.
package wait

import (
	"testing"
	"time"
)

// interval is how often Until asks again; short enough not to slow tests,
// long enough not to load the machine.
const interval = 20 * time.Millisecond

// Until polls cond until it returns nil, and fails the test with what and
// cond's last error once timeout has passed.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(interval) // polling interval, not synchronisation
	}
}

// Receive returns the next value from ch, and fails the test if none comes
// within 10 s.
func Receive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
