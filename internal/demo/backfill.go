package demo

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// writeOpenMetrics writes families as OpenMetrics text that `promtool tsdb
// create-blocks-from openmetrics` accepts: each family under its # TYPE
// line, each series' samples in time order, timestamps in seconds, # EOF
// last.
func writeOpenMetrics(w io.Writer, fams []family) error {
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		fmt.Fprintf(bw, "# TYPE %s %s\n", f.name, f.typ)
		for _, s := range f.series {
			lbls := formatLabels(s.labels)
			for _, smpl := range s.samples {
				fmt.Fprintf(bw, "%s%s %s %s\n", s.name, lbls,
					strconv.FormatFloat(smpl.v, 'g', -1, 64),
					strconv.FormatFloat(float64(smpl.t.UnixMilli())/1000, 'f', 3, 64))
			}
		}
	}
	bw.WriteString("# EOF\n")
	return bw.Flush()
}

// formatLabels renders name/value pairs as {a="b",...}. The values are the
// generator's own and need no escaping.
func formatLabels(pairs []string) string {
	if len(pairs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", pairs[i], pairs[i+1])
	}
	b.WriteByte('}')
	return b.String()
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
