package prometheus

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

// maxSeriesEntry bounds what the sidecar reads of /api/v1/series for one
// series before it has decoded it; the answer as a whole is not bounded,
// as it is never held.
const maxSeriesEntry = 1 << 20

// errSeriesOrder is the error of a /api/v1/series answer out of label order.
var errSeriesOrder = errors.New("series out of label order")

// Series streams the label sets of the series that match matchers and have
// data in [start, end] to fn, in label order, from /api/v1/series: Prometheus
// reads its index for them and no chunks. fn is given each series' labels in
// a slice that the next series reuses. It returns Prometheus's warnings. An
// error from fn ends the answer and is returned as it is.
func (c *Client) Series(ctx context.Context, matchers []*labels.Matcher, start, end int64, fn func([]prompb.Label) error) ([]string, error) {
	params := labelParams(matchers, start, end, 0)
	// Prometheus sorts the series only when it merges the answers to
	// several match[]: the same selection twice is sorted and merged.
	params.Add("match[]", params.Get("match[]"))
	resp, err := c.query(ctx, "/api/v1/series", params)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body := &entryLimit{r: resp.Body, left: maxSeriesEntry}
	var (
		prev    labels.Labels
		started bool // prev holds a series
		buf     []prompb.Label
	)
	warnings, err := newSeriesDecoder(body).decode(func(lset labels.Labels) error {
		body.left = maxSeriesEntry
		if started && labels.Compare(prev, lset) >= 0 {
			return fmt.Errorf("/api/v1/series: %w", errSeriesOrder)
		}
		buf = prompb.FromLabels(lset, buf)
		if err := fn(buf); err != nil {
			return &callerError{err}
		}
		prev, started = lset, true
		return nil
	})
	var ce *callerError
	switch {
	case errors.As(err, &ce):
		return nil, ce.err
	case errors.Is(err, errSeriesOrder):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("decode /api/v1/series: %w", err)
	}
	return warnings, nil
}

// callerError carries an error of Series's fn through the decoder, to be
// returned as it is.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }

// entryLimit fails a read once left bytes have been read since the caller
// last reset it: the JSON decoder holds a value whole until it ends.
type entryLimit struct {
	r    io.Reader
	left int
}

func (l *entryLimit) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("/api/v1/series: a series larger than %d KiB", maxSeriesEntry>>10)
	}
	n, err := l.r.Read(p[:min(len(p), l.left)])
	l.left -= n
	return n, err
}
