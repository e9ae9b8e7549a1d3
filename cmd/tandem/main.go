// Command tandem is Tandem's one binary. Its subcommands are the components,
// as in Thanos's image: `tandem sidecar` serves one Prometheus replica over
// the Thanos Store API, `tandem query` evaluates PromQL over the Store API
// servers it discovers, merging the replicas of HA pairs.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"go.opentelemetry.io/otel"

	"github.com/tandem-metrics/tandem/internal/tracing"
)

// subcommand is one component: its flags, declared on its kingpin
// command, and how to build it from them.
type subcommand interface {
	// build checks the parsed flags, builds the components and opens the
	// listeners; an error is a start error, reported as one line.
	build(env environment) (*daemon, error)
}

// environment is what every subcommand is built with.
type environment struct {
	logger *slog.Logger
	reg    *prometheus.Registry
	tracer *tracing.Provider
	// flags is every flag of the command line with its value, for
	// /api/v1/status/flags.
	flags map[string]string
}

// app is the parsed command line's model: the application, the flags all
// subcommands share, and the subcommands by name.
type app struct {
	*kingpin.Application
	global   *globalFlags
	commands map[string]subcommand
}

func newApp(name string) *app {
	a := &app{Application: kingpin.New(name, "Gives Prometheus HA pairs one global, deduplicated view over the Thanos Store API."), commands: map[string]subcommand{}}
	a.Version(version.Print("tandem"))
	a.HelpFlag.Short('h')
	a.global = registerGlobalFlags(a.Application)
	a.commands["sidecar"] = registerSidecar(a.Command("sidecar", "Serves a Prometheus replica over the Thanos Store API, with its external labels attached."))
	a.commands["query"] = registerQuery(a.Command("query", "Evaluates PromQL over Store API servers, merging HA replicas, and answers the Prometheus HTTP API."))
	return a
}

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], os.Stderr))
}

// execute parses args, builds the chosen subcommand and serves until a signal
// or ctx ends it. It returns the exit code: 2 for a bad flag or anything
// else that keeps the process from starting, written to stderr as one line;
// 1 for a component that fails once started.
func execute(ctx context.Context, args []string, stderr io.Writer) int {
	a := newApp(filepath.Base(os.Args[0]))
	name, err := a.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "tandem: %v\n", err)
		return 2
	}
	d, logger, err := a.build(name)
	if err != nil {
		fmt.Fprintf(stderr, "tandem %s: %s\n", name, oneLine(err))
		return 2
	}
	if err := d.run(ctx, logger); err != nil {
		logger.Error("Stopped", "err", err)
		return 1
	}
	return 0
}

// build builds the parsed subcommand name.
func (a *app) build(name string) (*daemon, *slog.Logger, error) {
	logger := promslog.New(&a.global.log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tracingConfig, err := a.global.tracing.read()
	if err != nil {
		return nil, nil, err
	}
	tracer, err := tracing.New(context.Background(), tracingConfig, "tandem-"+name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", a.global.tracing.flag(), err)
	}
	// Prometheus's PromQL engine traces its evaluation through the global
	// provider only.
	otel.SetTracerProvider(tracer)
	d, err := a.commands[name].build(environment{logger: logger, reg: reg, tracer: tracer, flags: a.flagValues(name)})
	if err != nil {
		_ = tracer.Shutdown(context.Background())
		return nil, nil, err
	}
	d.tracer = tracer
	return d, logger, nil
}

// flagValues is every flag of the application and of command name, with
// its value.
func (a *app) flagValues(name string) map[string]string {
	out := map[string]string{}
	for _, f := range a.Model().Flags {
		out[f.Name] = f.Value.String()
	}
	if cmd := a.GetCommand(name); cmd != nil {
		for _, f := range cmd.Model().Flags {
			out[f.Name] = f.Value.String()
		}
	}
	return out
}

// oneLine is err's message on one line: YAML decoders, for one, list their
// complaints on lines of their own.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}
