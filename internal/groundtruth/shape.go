package groundtruth

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Shape is what a merged series looks like next to the samples its replicas
// stored.
type Shape struct {
	Samples int
	// Unsorted counts samples not later than the one before.
	Unsorted int
	// NearDuplicates counts samples less than half a scrape interval (less
	// jitter) after the one before: two replicas' readings of one scrape.
	NearDuplicates int
	// Holes are the gaps around replica samples that lie more than half a
	// scrape interval (plus jitter) from every merged sample: data a replica
	// had that the merge could have returned without a near-duplicate, but
	// left a gap of more than one interval instead. Start or End is
	// math.MinInt64 or math.MaxInt64 for a hole before the first or after
	// the last merged sample.
	Holes []Window
	// Invented counts samples at timestamps no replica recorded.
	Invented int
	// Unread counts samples whose value no replica read at that timestamp.
	// Only gauges must have none: counters' values may be held across a
	// move between replicas.
	Unread int
	// InBothDown counts samples recorded while both replicas were down.
	InBothDown int
	// Drops counts values lower than the one before: counter resets.
	Drops int

	// Counter tells whether the series is the counter; Restarts is how often
	// its target restarted between the first and last merged sample.
	Counter  bool
	Restarts int
}

// Faults says what is wrong with a merged series of this shape: anything
// unsorted, near-duplicate, missing or invented, and a counter that drops
// other than where its target restarted. valuesKept tells whether the
// merge was asked to keep gauge values as read.
func (sh Shape) Faults(valuesKept bool) []string {
	var out []string
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(sh.Unsorted, "timestamps not after the one before")
	add(sh.NearDuplicates, "near-duplicate samples")
	if len(sh.Holes) > 0 {
		out = append(out, fmt.Sprintf("%d holes where a replica has data, first %v", len(sh.Holes), sh.Holes[0]))
	}
	add(sh.Invented, "samples at times no replica scraped")
	add(sh.InBothDown, "samples while both replicas were down")
	switch {
	case sh.Counter && sh.Drops != sh.Restarts:
		out = append(out, fmt.Sprintf("counter drops %d times, its target restarted %d times", sh.Drops, sh.Restarts))
	case !sh.Counter && valuesKept:
		add(sh.Unread, "values no replica read")
	}
	return out
}

// Shape describes merged, the merged samples of the series with labels lset
// (no replica label).
func (d *Dataset) Shape(lset labels.Labels, merged []Sample) Shape {
	var raw []Sample
	for _, samples := range d.Raw(lset) {
		raw = append(raw, samples...)
	}
	byTime := func(a, b Sample) int { return cmp.Compare(a.T, b.T) }
	slices.SortFunc(raw, byTime)

	interval, jitter := d.Interval(), d.Config.Jitter.Milliseconds()
	minSpacing := interval/2 - 2*jitter
	// Recorded times in the both-down window: replica B's clock runs ahead,
	// so its last samples before the window are recorded up to the skew
	// into it.
	down := Window{Start: d.BothDown.Start + max(d.Config.SkewB.Milliseconds(), 0), End: d.BothDown.End}

	sh := Shape{Samples: len(merged), Counter: lset.Get(model.MetricNameLabel) == CounterName}
	if sh.Counter && len(merged) > 0 {
		for _, tg := range d.Targets {
			if labels.Equal(withName(tg.Labels, CounterName), lset) {
				sh.Restarts = tg.restartsIn(merged[0].T, merged[len(merged)-1].T)
			}
		}
	}
	for i, s := range merged {
		if down.Contains(s.T) {
			sh.InBothDown++
		}
		j, found := slices.BinarySearchFunc(raw, s, byTime)
		if !found {
			sh.Invented++
		}
		read := false
		for ; j < len(raw) && raw[j].T == s.T; j++ {
			read = read || raw[j].V == s.V
		}
		if !read {
			sh.Unread++
		}
		if i == 0 {
			continue
		}
		prev := merged[i-1]
		if s.T <= prev.T {
			sh.Unsorted++
		}
		if s.T-prev.T < minSpacing {
			sh.NearDuplicates++
		}
		if s.V < prev.V {
			sh.Drops++
		}
	}
	sh.Holes = holes(raw, merged, interval/2+jitter)
	return sh
}

// holes returns the gaps in merged around every raw sample that is at least
// margin away from all merged samples. Both are sorted by time.
func holes(raw, merged []Sample, margin int64) []Window {
	var out []Window
	j := 0 // merged[j] is the first merged sample after the raw one
	for _, r := range raw {
		for j < len(merged) && merged[j].T <= r.T {
			j++
		}
		gap := Window{Start: math.MinInt64, End: math.MaxInt64}
		if j > 0 {
			if gap.Start = merged[j-1].T; r.T-gap.Start < margin {
				continue
			}
		}
		if j < len(merged) {
			if gap.End = merged[j].T; gap.End-r.T < margin {
				continue
			}
		}
		if n := len(out); n == 0 || out[n-1] != gap {
			out = append(out, gap)
		}
	}
	return out
}
