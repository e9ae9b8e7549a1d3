package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// Draining stops servers side by side. oklog/run calls the interrupts of a
// group one after another, so a server whose interrupt waited for its calls
// in flight would keep the servers after it accepting until then. The
// interrupts of the actors here only start the drain; Wait waits for all of
// them, for what must outlive the calls in flight.
type Draining struct {
	wg sync.WaitGroup
}

// GRPC is an actor that serves srv on lis and, interrupted, stops
// accepting at once and lets the calls in flight finish for at most grace.
func (d *Draining) GRPC(srv *grpc.Server, lis net.Listener, grace time.Duration) (execute func() error, interrupt func(error)) {
	return func() error { return srv.Serve(lis) },
		func(error) { d.wg.Go(func() { StopGRPC(srv, grace) }) }
}

// HTTP is an actor that runs serve, which serves srv, and, interrupted,
// stops accepting at once and lets the requests in flight finish for at
// most grace.
func (d *Draining) HTTP(srv *http.Server, serve func() error, grace time.Duration) (execute func() error, interrupt func(error)) {
	return func() error {
			if err := serve(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func(error) {
			d.wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), grace)
				defer cancel()
				_ = srv.Shutdown(ctx)
			})
		}
}

// Wait waits until every server interrupted so far has drained.
func (d *Draining) Wait() { d.wg.Wait() }
