package store

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Limiter counts the series and samples one request reads from the stores,
// over all its Series calls and stores, as they arrive: a store cannot send
// more than the bound before the request fails. A nil Limiter counts
// nothing. It is safe for concurrent use.
type Limiter struct {
	maxSeries, maxSamples int64
	series, samples       *atomic.Int64 // nil: not counted
}

// NewLimiter returns a Limiter for one request; zero bounds mean no bound.
func NewLimiter(maxSeries, maxSamples int64) *Limiter {
	return &Limiter{maxSeries: maxSeries, maxSamples: maxSamples, series: new(atomic.Int64), samples: new(atomic.Int64)}
}

// SamplesOnly returns a Limiter that counts samples with l and no series:
// for a second call over series that a first call has counted.
func (l *Limiter) SamplesOnly() *Limiter {
	if l == nil {
		return nil
	}
	return &Limiter{maxSamples: l.maxSamples, samples: l.samples}
}

// LimitError is a request reading more than a Limiter allows. It fails the
// request even with partial response enabled: the answer would silently
// lack data that every store has.
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

// NewLimitError returns a LimitError saying msg, for limits met elsewhere
// (another query's).
func NewLimitError(msg string) *LimitError { return &LimitError{msg} }

// IsLimit reports whether err is, or wraps, a LimitError.
func IsLimit(err error) bool { return errors.As(err, new(*LimitError)) }

func (l *Limiter) addSeries(n int64) error {
	if l == nil || l.series == nil {
		return nil
	}
	return count(l.series, l.maxSeries, n, "series (--store.limits.request-series); select fewer series")
}

func (l *Limiter) addSamples(n int64) error {
	if l == nil || l.samples == nil {
		return nil
	}
	return count(l.samples, l.maxSamples, n, "samples (--store.limits.request-samples); select fewer series or a shorter range")
}

// count adds n to what was read and fails once that passes limit.
func count(read *atomic.Int64, limit, n int64, what string) error {
	if limit <= 0 {
		return nil
	}
	if read.Add(n) > limit {
		return &LimitError{fmt.Sprintf("the query reads more than %d %s", limit, what)}
	}
	return nil
}
