package groundtruth

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// WriteOpenMetrics writes replica r's samples as OpenMetrics text that
// `promtool tsdb create-blocks-from openmetrics` accepts: one family per
// metric with its # TYPE line, each series' samples in time order, series of
// a family together, timestamps in seconds, and a final # EOF. Every series
// carries replicaLabel="a" or "b" so that both replicas can be loaded into
// separate Prometheus servers (or one) and told apart.
func (d *Dataset) WriteOpenMetrics(w io.Writer, r int, replicaLabel string) error {
	bw := bufio.NewWriter(w)
	families := []struct{ name, typ, suffix string }{
		{strings.TrimSuffix(CounterName, "_total"), "counter", "_total"},
		{GaugeName, "gauge", ""},
	}
	for _, f := range families {
		fmt.Fprintf(bw, "# TYPE %s %s\n", f.name, f.typ)
		for _, s := range d.Replicas[r].Series {
			if s.Labels.Get(model.MetricNameLabel) != f.name+f.suffix {
				continue
			}
			lbls := formatLabels(s.Labels, replicaLabel, d.Replicas[r].Name)
			for _, smpl := range s.Samples {
				fmt.Fprintf(bw, "%s%s%s %s %s\n", f.name, f.suffix, lbls,
					strconv.FormatFloat(smpl.V, 'g', -1, 64),
					strconv.FormatFloat(float64(smpl.T)/1000, 'f', 3, 64))
			}
		}
	}
	bw.WriteString("# EOF\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write openmetrics for replica %s: %w", d.Replicas[r].Name, err)
	}
	return nil
}

// formatLabels renders {k="v",...} without the metric name, adding the
// replica label.
func formatLabels(lset labels.Labels, replicaLabel, replica string) string {
	b := labels.NewBuilder(lset)
	b.Del(model.MetricNameLabel)
	if replicaLabel != "" {
		b.Set(replicaLabel, replica)
	}
	var sb strings.Builder
	sb.WriteByte('{')
	i := 0
	b.Labels().Range(func(l labels.Label) {
		if i > 0 {
			sb.WriteByte(',')
		}
		i++
		sb.WriteString(l.Name)
		sb.WriteString(`="`)
		sb.WriteString(escapeLabelValue(l.Value))
		sb.WriteByte('"')
	})
	sb.WriteByte('}')
	return sb.String()
}

// escapeLabelValue escapes a label value as the OpenMetrics text format
// requires: backslash, double quote and line feed only.
func escapeLabelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
