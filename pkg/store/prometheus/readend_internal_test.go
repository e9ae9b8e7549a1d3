package prometheus

import (
	"math"
	"testing"
	"time"
)

// TestReadEnd checks where remote reads end, against the newest sample
// seen and the clock.
func TestReadEnd(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	for _, tc := range []struct {
		name  string
		seen  []int64 // noted chunk ends
		maxt  int64
		step  int64
		uncut bool
	}{
		{"nothing seen, ends now", nil, ms(0), 0, true},
		{"nothing seen, ends an hour ago", nil, ms(-time.Hour), 0, false},
		{"ends at the newest sample of old data", []int64{ms(-48 * time.Hour)}, ms(-48 * time.Hour), 0, true},
		{"ends 4 minutes before it", []int64{ms(-48 * time.Hour)}, ms(-48*time.Hour - 4*time.Minute), 0, true},
		{"ends 6 minutes before it", []int64{ms(-48 * time.Hour)}, ms(-48*time.Hour - 6*time.Minute), 0, false},
		{"6 minutes before it, at a 10 minute step", []int64{ms(-48 * time.Hour)}, ms(-48*time.Hour - 6*time.Minute), (10 * time.Minute).Milliseconds(), true},
		{"the newest of several", []int64{ms(-2 * time.Hour), ms(-time.Minute), ms(-time.Hour)}, ms(-2 * time.Minute), 0, true},
		{"an open chunk's largest time says nothing", []int64{ms(-48 * time.Hour), math.MaxInt64}, ms(-48 * time.Hour), 0, true},
		{"a sample in the future keeps reads ending now uncut", []int64{ms(24 * time.Hour)}, ms(0), 0, true},
		{"and those ending an hour ago cut", []int64{ms(24 * time.Hour)}, ms(-time.Hour), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n newestSample
			for _, s := range tc.seen {
				n.note(knownEnd(s))
			}
			got := n.readEnd(tc.maxt, tc.step, now)
			if want := map[bool]int64{true: math.MaxInt64, false: tc.maxt}[tc.uncut]; got != want {
				t.Errorf("read ends at %d, want %d", got, want)
			}
		})
	}
}
