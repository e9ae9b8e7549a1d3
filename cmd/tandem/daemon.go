package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/oklog/run"
	"google.golang.org/grpc"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/internal/tracing"
)

// daemon is a built subcommand: its gRPC and HTTP servers with their
// listeners open, and the components that run beside them.
type daemon struct {
	flags   *serverFlags
	grpc    *grpc.Server
	http    *http.Server
	grpcLis net.Listener
	httpLis net.Listener
	// background runs until its context ends, which happens only once both
	// servers have drained: the calls in flight still use what it keeps
	// (Prometheus's external labels, the stores' connections).
	background []func(ctx context.Context) error
	// tracer is flushed once everything has stopped.
	tracer *tracing.Provider
}

// run serves until ctx ends, a signal arrives or a component fails, as one
// oklog/run group.
func (d *daemon) run(ctx context.Context, logger *slog.Logger) error {
	var g run.Group
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g.Add(serve.SignalActor(ctx, logger))

	// Both servers stop accepting at once and drain side by side.
	var draining serve.Draining
	serveGRPC, stopGRPC := draining.GRPC(d.grpc, d.grpcLis, d.flags.grpcGrace)
	g.Add(func() error {
		logger.Info("Serving gRPC", "address", d.grpcLis.Addr().String())
		return serveGRPC()
	}, stopGRPC)
	serveHTTP, stopHTTP := draining.HTTP(d.http, func() error { return d.flags.ServeHTTP(d.http, d.httpLis, logger) }, d.flags.httpGrace)
	g.Add(func() error {
		logger.Info("Serving HTTP", "address", d.httpLis.Addr().String())
		return serveHTTP()
	}, stopHTTP)

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	for _, bg := range d.background {
		g.Add(func() error { return bg(bgCtx) }, func(error) {
			draining.Wait()
			stopBackground()
		})
	}
	err := g.Run()
	if d.tracer != nil {
		flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancelFlush()
		if ferr := d.tracer.Shutdown(flushCtx); ferr != nil {
			logger.Warn("Flushing traces", "err", ferr)
		}
	}
	return err
}

// close releases the listeners of a daemon that never ran.
func (d *daemon) close() {
	_ = d.grpcLis.Close()
	_ = d.httpLis.Close()
}
