package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/openmetrics"
)

// writeOpenMetrics writes families as OpenMetrics text for promtool.
func writeOpenMetrics(w io.Writer, fams []family) error {
	om := openmetrics.NewWriter(w)
	for _, f := range fams {
		om.Family(f.name, f.typ)
		for _, s := range f.series {
			sw := om.Series(s.name, labels.FromStrings(s.labels...))
			for _, smpl := range s.samples {
				sw.Sample(smpl.t.UnixMilli(), smpl.v)
			}
		}
	}
	return om.Close()
}

// backfill writes replica's history into TSDB blocks under dataDir, going
// through an OpenMetrics file in dir so a failure can be reproduced by hand.
func backfill(ctx context.Context, promtool string, h History, replica int, dir, dataDir string) error {
	src := filepath.Join(dir, "history-"+replicaNames[replica]+".om")
	f, err := os.Create(src)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := writeOpenMetrics(f, h.generate(replica)); err != nil {
		f.Close()
		return fmt.Errorf("write history %s: %w", src, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history %s: %w", src, err)
	}
	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", src, dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("promtool tsdb create-blocks-from openmetrics %s: %w\n%s", src, err, out)
	}
	return nil
}
