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

// TestReadStart checks where the hints of remote reads start: at the
// read's start unless it is inside the head, else at the boundary of the
// head's chunk range before it, but never before the head; and that reads
// with more than twice what they ask for before them are cut by the
// sidecar, at their start.
func TestReadStart(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return day.Add(d).UnixMilli() }
	const none = math.MinInt64
	for _, tc := range []struct {
		name               string
		from, end, headMin int64
		hints, cut         int64
	}{
		{"head not known", ms(5 * time.Hour), ms(8 * time.Hour), math.MaxInt64, ms(5 * time.Hour), none},
		{"from before the head", ms(3 * time.Hour), ms(8 * time.Hour), ms(4 * time.Hour), ms(3 * time.Hour), none},
		{"from at the head's start", ms(4 * time.Hour), ms(8 * time.Hour), ms(4 * time.Hour), ms(4 * time.Hour), none},
		{"inside the head, past a chunk range boundary", ms(7*time.Hour + 20*time.Minute), ms(9 * time.Hour), ms(4 * time.Hour), ms(6 * time.Hour), none},
		{"inside the head's first chunk range", ms(4*time.Hour + 20*time.Minute), ms(8 * time.Hour), ms(4*time.Hour + 5*time.Minute), ms(4*time.Hour + 5*time.Minute), none},
		{"on a boundary", ms(6 * time.Hour), ms(8 * time.Hour), ms(4 * time.Hour), ms(6 * time.Hour), none},
		{"before 1970", -90 * time.Minute.Milliseconds(), 0, -3 * time.Hour.Milliseconds(), -2 * time.Hour.Milliseconds(), none},
		{"twice as much before as asked for", ms(6*time.Hour + 10*time.Minute), ms(6*time.Hour + 15*time.Minute), ms(4 * time.Hour), ms(6 * time.Hour), none},
		{"more than twice as much before", ms(6*time.Hour + 11*time.Minute), ms(6*time.Hour + 16*time.Minute), ms(4 * time.Hour), ms(6 * time.Hour), ms(6*time.Hour + 11*time.Minute)},
		{"an hour, from anywhere", ms(7*time.Hour + 59*time.Minute), ms(8*time.Hour + 59*time.Minute), ms(4 * time.Hour), ms(6 * time.Hour), none},
		{"an instant", ms(6*time.Hour + 40*time.Minute), ms(6*time.Hour + 40*time.Minute), ms(4 * time.Hour), ms(6 * time.Hour), ms(6*time.Hour + 40*time.Minute)},
		{"an instant in the head's first chunk range", ms(4*time.Hour + 40*time.Minute), ms(4*time.Hour + 40*time.Minute), ms(4*time.Hour + 5*time.Minute), ms(4*time.Hour + 5*time.Minute), ms(4*time.Hour + 40*time.Minute)},
	} {
		if hints, cut := readStart(tc.from, tc.end, tc.headMin); hints != tc.hints || cut != tc.cut {
			t.Errorf("%s: hints start at %d and the sidecar cuts at %d, want %d and %d", tc.name, hints, cut, tc.hints, tc.cut)
		}
	}
}

// TestReadStop checks where the hints of remote reads stop: open, with the
// sidecar cutting at the read's end, for a read inside the head that
// Prometheus would otherwise cut there; at the read's end, with nothing to
// cut, for a read asked to the end of Prometheus's data or one that starts
// before the head, whose blocks' chunks the hints pick.
func TestReadStop(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return day.Add(d).UnixMilli() }
	const open = math.MaxInt64
	for _, tc := range []struct {
		name               string
		from, end, headMin int64
		hints, cut         int64
	}{
		{"inside the head, ending before the newest sample", ms(6 * time.Hour), ms(7 * time.Hour), ms(4 * time.Hour), open, ms(7 * time.Hour)},
		{"an instant inside the head", ms(6 * time.Hour), ms(6 * time.Hour), ms(4 * time.Hour), open, ms(6 * time.Hour)},
		{"asked to the end", ms(6 * time.Hour), open, ms(4 * time.Hour), open, open},
		{"from the head's start", ms(4 * time.Hour), ms(7 * time.Hour), ms(4 * time.Hour), ms(7 * time.Hour), open},
		{"from before the head", ms(3 * time.Hour), ms(7 * time.Hour), ms(4 * time.Hour), ms(7 * time.Hour), open},
		{"head not known", ms(6 * time.Hour), ms(7 * time.Hour), math.MaxInt64, ms(7 * time.Hour), open},
	} {
		if hints, cut := readStop(tc.from, tc.end, tc.headMin); hints != tc.hints || cut != tc.cut {
			t.Errorf("%s: hints stop at %d and the sidecar cuts at %d, want %d and %d", tc.name, hints, cut, tc.hints, tc.cut)
		}
	}
}
