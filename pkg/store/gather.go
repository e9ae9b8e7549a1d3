package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// GatherOptions are the rules of one fan-out, as a request sets them.
type GatherOptions struct {
	// PartialResponse turns a store that fails, or warns, into a warning
	// naming it; without it the first failure fails the whole call and
	// ends the others.
	PartialResponse bool
	// ResponseTimeout bounds how long a store may stay silent (for a
	// unary call: its whole duration); zero means no bound beyond the
	// request's own.
	ResponseTimeout time.Duration
}

// Gather calls call on every store at once and returns the answers of
// those that succeeded, the warnings (the stores' own, and each failure
// with partial response) and, without partial response, the first failure.
// Errors and warnings name the store. The calls follow the same rules as
// Series: with partial response and a deadline on ctx they end a little
// before it, so that an answer from the others arrives in time; a panic
// while reading one store's answer fails that store only.
func Gather[C fmt.Stringer, T any](ctx context.Context, stores []C, opts GatherOptions, call func(ctx context.Context, c C) (T, []string, error)) ([]T, []error, error) {
	parent := ctx
	strict := !opts.PartialResponse
	ctx, cancel := CallContext(parent, opts.PartialResponse)
	defer cancel(nil)

	type answer struct {
		value    T
		ok       bool
		warnings []error
		err      error
	}
	answers := make([]answer, len(stores))
	var wg sync.WaitGroup
	for i, c := range stores {
		wg.Go(func() {
			a := &answers[i]
			fail := func(err error) {
				a.err = fmt.Errorf("store %s: %w", c, err)
				if strict {
					cancel(a.err)
				}
			}
			defer func() {
				if r := recover(); r != nil {
					fail(fmt.Errorf("reading its answer failed: %v", r))
				}
			}()
			value, warns, err := call(ctx, c)
			switch {
			case err != nil:
				fail(callError(ctx, err))
			case strict && len(warns) > 0:
				fail(fmt.Errorf("warning with partial response disabled: %s", warns[0]))
			default:
				a.value, a.ok = value, true
				for _, w := range warns {
					a.warnings = append(a.warnings, fmt.Errorf("store %s: %s", c, w))
				}
			}
		})
	}
	wg.Wait()

	if err := parent.Err(); err != nil {
		return nil, nil, fmt.Errorf("fan-out: %w", context.Cause(parent))
	}
	if strict {
		// The first failure cancelled the others: it is the one to report.
		if cause := context.Cause(ctx); cause != nil {
			return nil, nil, cause
		}
	}
	var (
		values   []T
		warnings []error
	)
	for _, a := range answers {
		warnings = append(warnings, a.warnings...)
		if a.err != nil {
			warnings = append(warnings, a.err)
		}
		if a.ok {
			values = append(values, a.value)
		}
	}
	return values, warnings, nil
}

// unaryCallContext bounds one unary store call by the response timeout: a
// unary call's silence is its whole duration.
func unaryCallContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w: no answer within %s", errStoreSilent, timeout))
}

// Frame is one message of a streamed answer; gogo-generated messages
// know their size.
type Frame interface{ Size() int }

// FrameStream is the receiving end of a server-streaming call.
type FrameStream[F Frame] interface{ Recv() (F, error) }

// StreamLimits bound what one store may send in one streamed answer.
type StreamLimits struct {
	// MaxBytes bounds the sum of the frames' sizes; zero means no bound.
	MaxBytes int
}

// ReadStream opens a server-streaming call and reads it to its end: the
// frames that carry data and the warnings the store sent in band (warning
// returns a frame's warning, empty for data). The store may stay silent for
// at most timeout between frames (zero: no bound), and may send at most
// limits.MaxBytes: past that the call is ended with an error that says so.
func ReadStream[F Frame](ctx context.Context, timeout time.Duration, limits StreamLimits,
	open func(ctx context.Context) (FrameStream[F], error), warning func(F) string) ([]F, []string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var silence *time.Timer
	if timeout > 0 {
		silence = time.AfterFunc(timeout, func() {
			cancel(fmt.Errorf("%w: no answer within %s", errStoreSilent, timeout))
		})
		defer silence.Stop()
	}
	stream, err := open(ctx)
	if err != nil {
		return nil, nil, callError(ctx, err)
	}
	var (
		frames   []F
		warnings []string
		size     int
	)
	for {
		if silence != nil {
			silence.Reset(timeout)
		}
		f, err := stream.Recv()
		if silence != nil {
			silence.Stop()
		}
		if errors.Is(err, io.EOF) {
			return frames, warnings, nil
		}
		if err != nil {
			return nil, nil, callError(ctx, err)
		}
		if size += f.Size(); limits.MaxBytes > 0 && size > limits.MaxBytes {
			return nil, nil, fmt.Errorf("answer larger than %d MiB, the most one store may send", limits.MaxBytes>>20)
		}
		if w := warning(f); w != "" {
			warnings = append(warnings, w)
			continue
		}
		frames = append(frames, f)
	}
}

// Selected reports whether a store at addr with the external label sets
// lsets can hold data that matches matchers, and whether the storeMatch[]
// selectors (none: every store) pick it: the rules by which Series picks
// its stores.
func Selected(addr string, lsets []labels.Labels, matchers []*labels.Matcher, storeMatchers [][]*labels.Matcher) bool {
	if !labelSetsMatch(matchers, lsets) {
		return false
	}
	return len(storeMatchers) == 0 || storeSelected(addr, lsets, storeMatchers)
}
