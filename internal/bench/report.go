package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// WriteJSON writes the results to path.
func WriteJSON(res *Results, path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteTable writes the results as Markdown tables, readable in a terminal
// and ready for the README.
func WriteTable(w io.Writer, res *Results) error {
	var b strings.Builder
	d := res.Dataset
	fmt.Fprintf(&b, "Data: %s; %s of TSDB blocks and %s of head (the last %s, WAL and chunks) per replica.\n",
		d.describe(), mib(d.BlockBytes), mib(d.HeadBytes), headLength)
	fmt.Fprintf(&b, "Machine: %d CPUs, %s %s/%s. Command: `%s`.\n\n", res.Machine.CPUs, res.Machine.GoVersion, res.Machine.OS, res.Machine.Arch, res.Command)

	b.WriteString("| query | range / step | engine | gRPC compression | series | Tandem p50 | Tandem p90 | Prometheus p50 | ratio | query peak RSS | sidecar peak RSS (a / b) | read by the sidecars | against Prometheus (one replica) |\n")
	b.WriteString("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, q := range res.Queries {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %s | %s | %.2fx | %s | %s / %s | %s | %s |\n",
			q.Shape, q.Window, q.Engine, q.Compression, q.ResultSeries, seconds(q.Tandem.Median), seconds(q.Tandem.P90),
			seconds(q.Prometheus.Median), q.Ratio, mib(q.QueryPeakRSS), mib(q.SidecarPeakRSS[0]), mib(q.SidecarPeakRSS[1]), mib(q.ReadBytes), q.Agreement)
	}
	if len(res.Queries) > 0 {
		fmt.Fprintf(&b, "\nMedians and p90 of %d runs after a warm-up; the query deduplicates both replicas, Prometheus answers from one. "+
			"Sidecars and query are restarted for every row, so each peak RSS (VmHWM) belongs to that row alone.\n", res.Queries[0].Tandem.Runs)
	}

	if len(res.Thanos) > 0 {
		writeThanos(&b, res)
	}

	b.WriteString("\n| sidecar Series, all counters | gRPC compression | series | p50 | series/s | MB/s | bytes on the wire | peak RSS |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range res.Sidecar {
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %.0f | %.1f | %s | %s |\n", s.Range, s.Compression, s.Series,
			seconds(s.Took.Median), s.SeriesPerSecond, s.BytesPerSecond/1e6, mib(s.WireBytes), mib(s.PeakRSS))
	}

	if len(res.Clusters) > 0 {
		writeClusters(&b, res.Clusters)
	}

	if len(res.Stores) > 0 {
		writeStores(&b, res.Stores)
	}

	if len(res.Micro) > 0 {
		b.WriteString("\n| micro-benchmark | results |\n|---|---|\n")
		for _, m := range res.Micro {
			fmt.Fprintf(&b, "| %s | %s |\n", m.Name, formatMetrics(m.Metrics))
		}
	}

	b.WriteString("\n| target | measured | met |\n|---|---|---|\n")
	for _, t := range res.Targets {
		met := "no"
		if t.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Measured, met)
	}
	if p := res.Profile; p != nil {
		fmt.Fprintf(&b, "\nProfiles on %s: the query `go tool pprof %s`, `go tool pprof -sample_index=alloc_space %s`, its runtime's metrics afterwards %s; sidecar a `go tool pprof %s`, `go tool pprof -sample_index=alloc_space %s`; Prometheus a `go tool pprof %s`.\n",
			p.Query, p.CPU, p.Allocs, p.Metrics, p.SidecarCPU, p.SidecarAllocs, p.PrometheusCPU)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cpuTime is CPU seconds in ms, at the 10 ms the kernel counts in.
func cpuTime(s float64) string { return fmt.Sprintf("%.0f ms", s*1000) }

// writeThanos writes the Thanos rows beside Tandem's without compression.
func writeThanos(b *strings.Builder, res *Results) {
	b.WriteString("\n| query | range / step | Thanos p50 | Thanos p90 | Prometheus p50 | Thanos ratio | Tandem ratio (engine: prometheus / thanos) | Thanos query peak RSS | Tandem query peak RSS (prometheus / thanos) | query RSS growth over its floor: Thanos, Tandem (prometheus / thanos) | Thanos sidecar peak RSS (a / b) | Prometheus CPU per query for its sidecar: Thanos, Tandem (prometheus / thanos) | Tandem against Thanos |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, th := range res.Thanos {
		var ratios, rsses, growths, cpus []string
		for _, q := range res.Queries {
			if q.Shape == th.Shape && q.Window == th.Window && q.Compression == "none" {
				ratios, rsses = append(ratios, fmt.Sprintf("%.2fx", q.Ratio)), append(rsses, mib(q.QueryPeakRSS))
				growths = append(growths, mib(q.QueryPeakRSS-q.QueryStartRSS))
				cpus = append(cpus, cpuTime(q.PrometheusCPU))
			}
		}
		ratio, rss := strings.Join(ratios, " / "), strings.Join(rsses, " / ")
		growth := fmt.Sprintf("%s, %s", mib(th.QueryPeakRSS-th.QueryStartRSS), strings.Join(growths, " / "))
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %.2fx | %s | %s | %s | %s | %s / %s | %s, %s | %s |\n",
			th.Shape, th.Window, seconds(th.Thanos.Median), seconds(th.Thanos.P90), seconds(th.Prometheus.Median),
			th.Ratio, ratio, mib(th.QueryPeakRSS), rss, growth, mib(th.SidecarPeakRSS[0]), mib(th.SidecarPeakRSS[1]),
			cpuTime(th.PrometheusCPU), strings.Join(cpus, " / "), th.AgreementWithTandem)
	}
	b.WriteString("\nThe same queries through Thanos v0.42's sidecars and query over the same two Prometheus servers, deduplicating by the same replica label; each ratio is to Prometheus measured alongside.\n")
}

// writeClusters writes the rows of a root over one leaf per cluster.
func writeClusters(b *strings.Builder, rs []ClusterResult) {
	b.WriteString("\n| query | range / step | stack | mode | series | p50 | p90 | root reads per query | root peak RSS | leaf peak RSS |\n")
	b.WriteString("|---|---|---|---|--:|--:|--:|--:|--:|--:|\n")
	// Each shape's rows together, Tandem's beside Thanos's.
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, func(a, b ClusterResult) int { return strings.Compare(a.Shape, b.Shape) })
	for _, r := range rs {
		fmt.Fprintf(b, "| %s | %s / %s | %s | %s | %d | %s | %s | %s | %s | %s |\n",
			r.Shape, r.Range, r.Step, r.Stack, r.Mode, r.ResultSeries, seconds(r.Took.Median), seconds(r.Took.P90),
			size(r.RootBytes), mib(r.RootPeakRSS), mib(r.LeafPeakRSS))
	}
	fmt.Fprintf(b, "\nA root query over one leaf query per cluster, each leaf over an HA pair's sidecars, root and leaves both Tandem's or both Thanos v0.42's; "+
		"local: the root reads the leaves' Store API, distributed: Thanos's engine pushes what it can down to the leaves' Query API. "+
		"Medians and p90 of %d runs after a warm-up; the root is restarted for every row.\n", rs[0].Took.Runs)
}

// writeStores writes the rows of a query over many stores.
func writeStores(b *strings.Builder, rs []StoresResult) {
	b.WriteString("\n| query over many stores | stores | series per store (first pair / others) | series | p50 | p90 | query peak RSS | goroutines at peak / at rest |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rs {
		fmt.Fprintf(b, "| %s | %d | %d / %d | %d | %s | %s | %s | %d / %d |\n", r.Name, r.Stores, r.SeriesPerStore, r.OthersSeries,
			r.ResultSeries, seconds(r.Took.Median), seconds(r.Took.P90), mib(r.QueryPeakRSS), r.PeakGoroutines, r.RestGoroutines)
	}
	fmt.Fprintf(b, "\nA query over %d Store API servers (HA pairs c00, c01, ...) that the benchmark serves over loopback gRPC from TSDBs, %s at %s; "+
		"medians and p90 of %d runs after a warm-up, the query restarted for every row.\n",
		rs[0].Stores, shortDuration(storesWindow.Length), shortDuration(storesWindow.Step), rs[0].Took.Runs)
}

// metricOrder puts go test's units first, then the benchmark's own.
var metricOrder = []string{"ns/op", "MB/s", "B/op", "allocs/op"}

func formatMetrics(m map[string]float64) string {
	var parts []string
	seen := map[string]bool{}
	for _, unit := range metricOrder {
		if v, ok := m[unit]; ok {
			parts = append(parts, number(v)+" "+unit)
			seen[unit] = true
		}
	}
	var rest []string
	for unit := range m {
		if !seen[unit] {
			rest = append(rest, unit)
		}
	}
	slices.Sort(rest)
	for _, unit := range rest {
		parts = append(parts, number(m[unit])+" "+unit)
	}
	return strings.Join(parts, ", ")
}

// number writes large values whole, with thousands separators, and small
// ones with three significant digits.
func number(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	digits := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}
