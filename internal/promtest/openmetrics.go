package promtest

import (
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/openmetrics"
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
	// Histograms are native histogram samples, which only RemoteWrite
	// writes: OpenMetrics text has none that promtool reads.
	Histograms []HistogramSample
}

// HistogramSample is one native histogram at a millisecond timestamp.
type HistogramSample struct {
	T int64
	H *histogram.Histogram
}

// Family is a metric family as OpenMetrics writes it. For counters, Name is
// the family name and samples are written as Name_total.
type Family struct {
	Name   string
	Type   string // "gauge", "counter" or "unknown"
	Series []Series
}

// OpenMetrics renders families as OpenMetrics text that promtool accepts.
func OpenMetrics(families ...Family) string {
	var b strings.Builder
	w := openmetrics.NewWriter(&b)
	for _, f := range families {
		typ := f.Type
		if typ == "" {
			typ = "gauge"
		}
		w.Family(f.Name, typ)
		metric := f.Name
		if typ == "counter" {
			metric += "_total"
		}
		for _, s := range f.Series {
			sw := w.Series(metric, labels.FromMap(s.Labels))
			for _, smpl := range s.Samples {
				sw.Sample(smpl.T, smpl.V)
			}
		}
	}
	if err := w.Close(); err != nil {
		panic(err) // a strings.Builder does not fail
	}
	return b.String()
}
