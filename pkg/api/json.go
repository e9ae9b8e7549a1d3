package api

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// spillSize is how much JSON a response holds before it sends it on: an
// answer of millions of points is written a piece at a time, never held
// whole as JSON beside the points themselves.
const spillSize = 64 << 10

// spiller takes the JSON appended so far once it is spillSize or more,
// sends it on and returns the buffer to go on with; a nil spiller keeps
// everything.
type spiller func(b []byte) []byte

func (s spiller) spill(b []byte) []byte {
	if s == nil || len(b) < spillSize {
		return b
	}
	return s(b)
}

// appendJSON appends the envelope as JSON, handing pieces of it to spill
// between series. A range query's answer can hold millions of points:
// vectors and matrices of floats are written here, in the format
// Prometheus's own API writes them, without encoding/json's reflection and
// the re-validation of every MarshalJSON result. Everything else goes
// through encoding/json.
func (e envelope) appendJSON(b []byte, spill spiller) ([]byte, error) {
	b = append(b, `{"status":`...)
	b = appendString(b, e.Status)
	if e.Data != nil {
		b = append(b, `,"data":`...)
		var err error
		if b, err = appendData(b, e.Data, spill); err != nil {
			return nil, err
		}
	}
	if e.ErrorType != "" {
		b = append(b, `,"errorType":`...)
		b = appendString(b, string(e.ErrorType))
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, e.Error)
	}
	if len(e.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, e.Warnings)
	}
	if len(e.Infos) > 0 {
		b = append(b, `,"infos":`...)
		b = appendStrings(b, e.Infos)
	}
	return append(b, '}'), nil
}

func appendData(b []byte, data any, spill spiller) ([]byte, error) {
	q, ok := data.(queryData)
	if !ok {
		return appendMarshal(b, data)
	}
	b = append(b, `{"resultType":`...)
	b = appendString(b, string(q.ResultType))
	b = append(b, `,"result":`...)
	var err error
	switch v := q.Result.(type) {
	case promql.Matrix:
		b, err = appendMatrix(b, v, spill)
	case promql.Vector:
		b, err = appendVector(b, v, spill)
	default:
		b, err = appendMarshal(b, v)
	}
	if err != nil {
		return nil, err
	}
	if q.Stats != nil {
		b = append(b, `,"stats":`...)
		if b, err = appendMarshal(b, q.Stats); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendMatrix(b []byte, m promql.Matrix, spill spiller) ([]byte, error) {
	b = append(b, '[')
	for i, s := range m {
		if i > 0 {
			b = append(spill.spill(b), ',')
		}
		if len(s.Histograms) > 0 {
			var err error
			if b, err = appendMarshal(b, s); err != nil {
				return nil, err
			}
			continue
		}
		b = append(b, `{"metric":`...)
		b = appendLabels(b, s.Metric)
		if len(s.Floats) > 0 {
			b = append(b, `,"values":[`...)
			for j, p := range s.Floats {
				if j > 0 {
					b = append(spill.spill(b), ',')
				}
				b = appendPoint(b, p.T, p.F)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendVector(b []byte, v promql.Vector, spill spiller) ([]byte, error) {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(spill.spill(b), ',')
		}
		if s.H != nil {
			var err error
			if b, err = appendMarshal(b, s); err != nil {
				return nil, err
			}
			continue
		}
		b = append(b, `{"metric":`...)
		b = appendLabels(b, s.Metric)
		b = append(b, `,"value":`...)
		b = appendPoint(b, s.T, s.F)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendLabels(b []byte, lset labels.Labels) []byte {
	b = append(b, '{')
	i := 0
	lset.Range(func(l labels.Label) {
		if i > 0 {
			b = append(b, ',')
		}
		i++
		b = appendString(b, l.Name)
		b = append(b, ':')
		b = appendString(b, l.Value)
	})
	return append(b, '}')
}

// appendPoint writes [seconds,"value"]: the timestamp with at most three
// decimals, the value as a string with 'e' notation only for very small or
// very large magnitudes, as Prometheus writes them.
func appendPoint(b []byte, t int64, v float64) []byte {
	b = append(b, '[')
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	b = append(b, ',', '"')
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	return append(b, '"', ']')
}

// appendString writes s as a JSON string. Label names and values are
// nearly always plain ASCII; anything else is escaped by encoding/json, so
// the output is what it has always been.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}
