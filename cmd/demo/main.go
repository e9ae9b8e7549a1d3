// Command demo runs Tandem on this machine: two Prometheus replicas with
// generated history in which each was down for a while, a sidecar each and
// a query over both, on fixed loopback ports. Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"

	"github.com/tandem-metrics/tandem/internal/demo"
)

func main() {
	app := kingpin.New(filepath.Base(os.Args[0]), "Runs two Prometheus replicas with history, their sidecars and a query over both, on loopback.")
	app.HelpFlag.Short('h')
	cfg := registerFlags(app)
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(2)
	}

	var g run.Group
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(run.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error { return demo.Run(ctx, *cfg, os.Stdout) }, func(error) { cancel() })
	err := g.Run()
	if se := (run.SignalError{}); errors.As(err, &se) {
		err = nil
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func registerFlags(app *kingpin.Application) *demo.Config {
	cfg := &demo.Config{}
	app.Flag("bin-dir", "Directory holding prometheus, promtool and tandem (make tools build).").
		Default("bin").StringVar(&cfg.BinDir)
	app.Flag("work-dir", "Directory for configs, TSDB data and logs; the replicas' data is regenerated on every run.").
		Default(".demo").StringVar(&cfg.WorkDir)
	app.Flag("history", "How much history to generate, ending now.").
		Default("6h").DurationVar(&cfg.History)
	replicas := []string{"r0", "r1"}
	for r, name := range replicas {
		app.Flag("prometheus."+name+"-address", "Listen address of Prometheus replica "+name+".").
			Default(fmt.Sprintf("127.0.0.1:%d", 9091+r)).StringVar(&cfg.Prometheus[r])
	}
	for r, name := range replicas {
		app.Flag("sidecar."+name+"-grpc-address", "Store API address of the sidecar of "+name+".").
			Default(fmt.Sprintf("127.0.0.1:%d", 10911+r)).StringVar(&cfg.SidecarGRPC[r])
		app.Flag("sidecar."+name+"-http-address", "HTTP (metrics, health) address of the sidecar of "+name+".").
			Default(fmt.Sprintf("127.0.0.1:%d", 10921+r)).StringVar(&cfg.SidecarHTTP[r])
	}
	app.Flag("query.http-address", "HTTP address of the query: UI and Prometheus HTTP API.").
		Default("127.0.0.1:10902").StringVar(&cfg.QueryHTTP)
	app.Flag("query.grpc-address", "Store API address of the query.").
		Default("127.0.0.1:10901").StringVar(&cfg.QueryGRPC)
	app.Flag("ready-timeout", "How long to wait for the query to see both sidecars.").
		Default("2m").DurationVar(&cfg.ReadyTimeout)
	app.Flag("stop-timeout", "How long each process may take to stop before it is killed.").
		Default("30s").DurationVar(&cfg.StopTimeout)
	return cfg
}
