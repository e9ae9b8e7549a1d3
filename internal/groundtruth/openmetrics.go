package groundtruth

import (
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/openmetrics"
)

// WriteOpenMetrics writes replica r's samples as OpenMetrics text that
// `promtool tsdb create-blocks-from openmetrics` accepts: one family per
// metric with its # TYPE line, each series' samples in time order, series of
// a family together, timestamps in seconds, and a final # EOF. Every series
// carries replicaLabel="a" or "b" so that both replicas can be loaded into
// separate Prometheus servers (or one) and told apart.
func (d *Dataset) WriteOpenMetrics(w io.Writer, r int, replicaLabel string) error {
	om := openmetrics.NewWriter(w)
	families := []struct{ name, typ, suffix string }{
		{strings.TrimSuffix(CounterName, "_total"), "counter", "_total"},
		{GaugeName, "gauge", ""},
	}
	for _, f := range families {
		om.Family(f.name, f.typ)
		for _, s := range d.Replicas[r].Series {
			if s.Labels.Get(model.MetricNameLabel) != f.name+f.suffix {
				continue
			}
			lset := s.Labels
			if replicaLabel != "" {
				lset = labels.NewBuilder(lset).Set(replicaLabel, d.Replicas[r].Name).Labels()
			}
			sw := om.Series(f.name+f.suffix, lset)
			for _, smpl := range s.Samples {
				sw.Sample(smpl.T, smpl.V)
			}
		}
	}
	if err := om.Close(); err != nil {
		return fmt.Errorf("replica %s: %w", d.Replicas[r].Name, err)
	}
	return nil
}
