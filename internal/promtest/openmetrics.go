package promtest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Sample is one value at a millisecond timestamp.
type Sample struct {
	T int64
	V float64
}

// Series is one series of a metric family.
type Series struct {
	// Labels excludes the metric name.
	Labels  map[string]string
	Samples []Sample
}

// Family is a metric family as OpenMetrics writes it. For counters, Name is
// the family name and samples are written as Name_total.
type Family struct {
	Name   string
	Type   string // "gauge", "counter" or "unknown"
	Series []Series
}

// OpenMetrics renders families as OpenMetrics text that promtool accepts:
// timestamps in seconds, each series' samples in time order, `# EOF` last.
func OpenMetrics(families ...Family) string {
	var b strings.Builder
	for _, f := range families {
		typ := f.Type
		if typ == "" {
			typ = "gauge"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", f.Name, typ)
		sample := f.Name
		if typ == "counter" {
			sample += "_total"
		}
		for _, s := range f.Series {
			lbls := formatLabels(s.Labels)
			for _, smpl := range s.Samples {
				fmt.Fprintf(&b, "%s%s %s %s\n", sample, lbls,
					strconv.FormatFloat(smpl.V, 'g', -1, 64),
					strconv.FormatFloat(float64(smpl.T)/1000, 'f', 3, 64))
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + strconv.Quote(m[n])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
