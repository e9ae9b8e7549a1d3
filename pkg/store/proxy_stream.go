package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// errStoreSilent is the cause of cancelling a store that stayed silent for
// longer than the response timeout.
var errStoreSilent error = storeSilentError{}

// storeSilentError is a timeout: it matches context.DeadlineExceeded, so that
// a query that fails for it is answered as any timed-out query is (503
// timeout in the HTTP API).
type storeSilentError struct{}

func (storeSilentError) Error() string { return "store response timeout" }

func (storeSilentError) Is(target error) bool { return target == context.DeadlineExceeded }

// storeSeries is one whole series of one store: every frame the store sent
// for one label set, joined.
type storeSeries struct {
	lset   labels.Labels
	chunks []storepb.AggrChunk
}

// storeStream reads one store's Series answer in its own goroutine and hands
// whole series to the merge through a bounded channel, so a fast store never
// buffers more than a few frames ahead of the merge.
type storeStream struct {
	client          Client
	req             *storepb.SeriesRequest
	stripLabels     bool // the store cannot strip the replica labels: do it here
	replicaLabels   []string
	responseTimeout time.Duration
	partial         bool
	limiter         *Limiter

	out chan []storeSeries

	// Written by run before it closes out; read only after out is closed.
	warnings []error
	err      error
}

func (s *storeStream) run(ctx context.Context) {
	defer close(s.out)
	defer func() {
		// A store's answer must not be able to take the process down:
		// a panic fails this store's call only.
		if r := recover(); r != nil {
			s.err = fmt.Errorf("store %s: reading its answer failed: %v", s.client, r)
		}
	}()
	if err := s.stream(ctx); err != nil {
		s.err = fmt.Errorf("store %s: %w", s.client, err)
	}
}

func (s *storeStream) stream(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	// The timer runs only while we wait for the store, never while the
	// merge is slow to take what we already have.
	var silence *time.Timer
	if s.responseTimeout > 0 {
		silence = time.AfterFunc(s.responseTimeout, func() {
			cancel(fmt.Errorf("%w: no answer within %s", errStoreSilent, s.responseTimeout))
		})
		defer silence.Stop()
	}

	cl, err := s.client.Series(ctx, s.req)
	if err != nil {
		return callError(ctx, err)
	}

	var (
		join     seriesJoiner
		chunks   chunkChecker
		buffered []storeSeries // only when stripping replica labels here
	)
	add := func(complete []storeSeries, series *storepb.Series) ([]storeSeries, error) {
		var samples int64
		for i := range series.Chunks {
			if err := chunks.check(&series.Chunks[i]); err != nil {
				return nil, fmt.Errorf("series %s: %w", series.PromLabels(), err)
			}
			samples += chunkSamples(series.Chunks[i])
		}
		if err := s.limiter.addSamples(samples); err != nil {
			return nil, err
		}
		return join.add(complete, series)
	}
	emit := func(complete []storeSeries) error {
		if len(complete) == 0 {
			return nil
		}
		if err := s.limiter.addSeries(int64(len(complete))); err != nil {
			return err
		}
		if s.stripLabels {
			buffered = append(buffered, complete...)
			return nil
		}
		if !s.send(ctx, complete) {
			return callError(ctx, ctx.Err())
		}
		return nil
	}
	for {
		if silence != nil {
			silence.Reset(s.responseTimeout)
		}
		resp, err := cl.Recv()
		if silence != nil {
			silence.Stop()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return callError(ctx, err)
		}

		var complete []storeSeries
		switch r := resp.Result.(type) {
		case *storepb.SeriesResponse_Series:
			if complete, err = add(complete, r.Series); err != nil {
				return err
			}
		case *storepb.SeriesResponse_Batch:
			for _, series := range r.Batch.Series {
				if complete, err = add(complete, series); err != nil {
					return err
				}
			}
		case *storepb.SeriesResponse_Warning:
			if !s.partial {
				return fmt.Errorf("warning with partial response disabled: %s", r.Warning)
			}
			s.warnings = append(s.warnings, fmt.Errorf("store %s: %s", s.client, r.Warning))
		case *storepb.SeriesResponse_Hints:
			// Opaque to us: Thanos stores use them for their own statistics.
		}
		if err := emit(complete); err != nil {
			return err
		}
	}
	if err := emit(join.flush(nil)); err != nil {
		return err
	}
	if !s.stripLabels {
		return nil
	}
	s.strip(buffered)
	for len(buffered) > 0 {
		n := min(len(buffered), responseBatchSize)
		if !s.send(ctx, buffered[:n:n]) {
			return callError(ctx, ctx.Err())
		}
		buffered = buffered[n:]
	}
	return nil
}

// strip removes the replica labels from a whole answer and restores label
// order. Series that become equal stay separate: they are replicas.
func (s *storeStream) strip(series []storeSeries) {
	b := labels.NewBuilder(labels.EmptyLabels())
	for i := range series {
		b.Reset(series[i].lset)
		b.Del(s.replicaLabels...)
		series[i].lset = b.Labels()
	}
	slices.SortStableFunc(series, func(a, b storeSeries) int {
		return labels.Compare(a.lset, b.lset)
	})
}

func (s *storeStream) send(ctx context.Context, series []storeSeries) bool {
	select {
	case s.out <- series:
		return true
	case <-ctx.Done():
		return false
	}
}

// callError turns the error of a store call into its reason: the response
// timeout or the request's approaching deadline when that is what ended the
// call, the gRPC error otherwise.
func callError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, errStoreSilent) || errors.Is(cause, errStoresTooLate) {
		return cause
	}
	return err
}
