// Command bench measures Tandem end to end on this machine: two Prometheus
// replicas with a day of generated history, a sidecar each and a query over
// both, against the same queries on Prometheus directly. It prints Markdown
// tables and writes the results as JSON. `make bench` runs it after the Go
// micro-benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"

	"github.com/tandem-metrics/tandem/internal/bench"
)

func main() {
	app := kingpin.New(filepath.Base(os.Args[0]), "Measures query latency, memory and throughput of Tandem against Prometheus on generated data.")
	app.HelpFlag.Short('h')
	cfg := &bench.Config{}
	app.Flag("bin-dir", "Directory holding prometheus and tandem (make tools build).").
		Default("bin").StringVar(&cfg.BinDir)
	app.Flag("cache-dir", "Directory keeping generated TSDB data (blocks and WAL) between runs, one subdirectory per dataset.").
		Default(".bench/data").StringVar(&cfg.CacheDir)
	app.Flag("work-dir", "Directory for configurations, logs and profiles.").
		Default(".bench/run").StringVar(&cfg.WorkDir)
	app.Flag("series", "Counter series per replica; per 40 of them, a classic histogram adds 12 bucket series and a native histogram one.").
		Default("2000").IntVar(&cfg.Dataset.Series)
	app.Flag("length", "Length of the generated history.").
		Default("24h").DurationVar(&cfg.Dataset.Length)
	app.Flag("interval", "Scrape interval of the generated history.").
		Default("15s").DurationVar(&cfg.Dataset.Interval)
	app.Flag("runs", "Timed runs per query, after one warm-up.").
		Default("5").IntVar(&cfg.Runs)
	app.Flag("grpc-compression", "--grpc-compression of the query to measure with (repeated); the sidecar is measured with and without snappy.").
		Default("none").EnumsVar(&cfg.Compressions, "none", "snappy")
	app.Flag("query.promql-engine", "--query.promql-engine of the query to measure with (repeated).").
		Default("prometheus", "thanos").EnumsVar(&cfg.Engines, "prometheus", "thanos")
	app.Flag("query-arg", "A flag more for Tandem's query over the two sidecars, such as --query-arg=--query.two-phase-select-span=0 (repeated).").
		StringsVar(&cfg.QueryArgs)
	app.Flag("rows", "Regular expression selecting the rows to measure by name, such as 'sum by code rate, 6h / 15s' or 'instant'; empty measures all.").
		Default("").RegexpVar(&cfg.Rows)
	app.Flag("micro-results", "Output of `go test -bench` to include (dedup cost, sidecar memory).").
		Default("").StringVar(&cfg.MicroResults)
	app.Flag("profile", "If positive, afterwards profile the query, sidecar a and Prometheus a this long on the query furthest behind Prometheus.").
		Default("0s").DurationVar(&cfg.Profile)
	output := app.Flag("output", "File to write the results to as JSON.").
		Default("bench-results.json").String()
	app.Flag("thanos", "Also measure every shape through Thanos's sidecars and query (bin/thanos, make tools).").
		Default("true").BoolVar(&cfg.Thanos)
	app.Flag("clusters", "Also measure a root query over one leaf query per cluster of this many clusters, in local and distributed mode; 0 skips it.").
		Default("4").IntVar(&cfg.Clusters)
	app.Flag("cluster-series", "Counter series per replica of each cluster.").
		Default("500").IntVar(&cfg.ClusterSeries)
	app.Flag("stores", "Also measure a query over this many Store API servers (HA pairs) that the benchmark serves itself; 0 skips it.").
		Default("64").IntVar(&cfg.Stores)
	app.Flag("store-series", "Counter series of each store of the first pair, and of each other store (and ten times as many in a second round).").
		Default("50").IntVar(&cfg.StoreSeries)
	app.Flag("command", "How the run was started, recorded with the results.").
		Default(strings.Join(os.Args, " ")).StringVar(&cfg.Command)
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}

	var g run.Group
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error {
		start := time.Now()
		res, err := bench.Run(ctx, *cfg, os.Stderr)
		if err != nil {
			return err
		}
		if err := bench.WriteJSON(res, *output); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "\nDone in %s; results in %s\n\n", time.Since(start).Round(time.Second), *output)
		return bench.WriteTable(os.Stdout, res)
	}, func(error) { cancel() })
	err := g.Run()
	if se := (run.SignalError{}); errors.As(err, &se) {
		err = nil
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}
