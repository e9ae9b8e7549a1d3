// Package openmetrics writes generated history as OpenMetrics text that
// `promtool tsdb create-blocks-from openmetrics` turns into TSDB blocks:
// each family under its # TYPE line, each series' samples in time order,
// timestamps in seconds, # EOF last. The tests, the benchmark and the demo
// all write their data through it.
package openmetrics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Writer writes one OpenMetrics exposition. Errors are kept: the first is
// returned by Close, and nothing is written after it.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
	err error
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{bw: bufio.NewWriterSize(w, 1<<16)} }

// Family starts a metric family: typ is "counter", "gauge", "histogram",
// "summary" or "unknown". Its series follow.
func (w *Writer) Family(name, typ string) {
	w.write("# TYPE " + name + " " + typ + "\n")
}

// Series starts one series of the current family: metric is the sample's
// name (a counter family's name plus _total, a bucket's _bucket) and lset
// its labels; a __name__ label in lset is ignored.
func (w *Writer) Series(metric string, lset labels.Labels) *Series {
	var b strings.Builder
	b.WriteString(metric)
	n := 0
	lset.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		if n == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		n++
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(escape(l.Value))
		b.WriteByte('"')
	})
	if n > 0 {
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	return &Series{w: w, prefix: b.String()}
}

// Close ends the exposition with # EOF and flushes it.
func (w *Writer) Close() error {
	w.write("# EOF\n")
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("write openmetrics: %w", w.err)
	}
	return nil
}

func (w *Writer) write(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

// Series writes the samples of one series, in time order.
type Series struct {
	w      *Writer
	prefix string // the metric name and labels, and a space
}

// Sample writes the value v at t, in Unix milliseconds.
func (s *Series) Sample(t int64, v float64) {
	w := s.w
	if w.err != nil {
		return
	}
	w.buf = append(w.buf[:0], s.prefix...)
	w.buf = strconv.AppendFloat(w.buf, v, 'g', -1, 64)
	w.buf = append(w.buf, ' ')
	w.buf = appendSeconds(w.buf, t)
	w.buf = append(w.buf, '\n')
	_, w.err = w.bw.Write(w.buf)
}

// appendSeconds appends a millisecond timestamp as seconds with three
// decimals, the form OpenMetrics timestamps take.
func appendSeconds(b []byte, ms int64) []byte {
	if ms < 0 {
		return strconv.AppendFloat(b, float64(ms)/1000, 'f', 3, 64)
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// escape escapes a label value as the text format requires: backslash,
// double quote and line feed only.
func escape(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
