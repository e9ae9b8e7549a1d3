package prometheus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// maxJSONDepth bounds the nesting of a value the series decoder skips.
const maxJSONDepth = 64

// seriesDecoder reads a /api/v1/series answer, {"data":[{"name":"value",
// ...},...],"warnings":[...],...}, one series at a time. A two-phase
// selection asks for every series' labels before PromQL can start, so
// decoding them is on the query's path: this reads label strings straight
// from the buffer, where encoding/json would decode each series through a
// map and reflection.
type seriesDecoder struct {
	r       *bufio.Reader
	b       labels.ScratchBuilder
	scratch []byte
	// interned holds label names and values seen, up to maxInterned: most
	// repeat from series to series, and are then not allocated again.
	interned map[string]string
}

const maxInterned = 4096

func newSeriesDecoder(r io.Reader) *seriesDecoder {
	return &seriesDecoder{r: bufio.NewReaderSize(r, 32<<10), interned: map[string]string{}}
}

// errSyntax is a /api/v1/series answer that is not the JSON it should be.
var errSyntax = errors.New("malformed JSON")

// decode reads the answer, calling series with each series' labels, and
// returns its warnings. An error from series ends it and is returned as
// it is.
func (d *seriesDecoder) decode(series func(labels.Labels) error) ([]string, error) {
	var warnings []string
	err := d.object(func(key string) error {
		switch key {
		case "data":
			return d.array(func() error { return d.series(series) })
		case "warnings":
			return d.array(func() error {
				if err := d.expect('"'); err != nil {
					return err
				}
				w, err := d.string()
				warnings = append(warnings, w)
				return err
			})
		}
		return d.skip(0)
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// series reads one series, {"name":"value",...}.
func (d *seriesDecoder) series(fn func(labels.Labels) error) error {
	d.b.Reset()
	err := d.object(func(name string) error {
		if err := d.expect('"'); err != nil {
			return err
		}
		value, err := d.string()
		d.b.Add(name, value)
		return err
	})
	if err != nil {
		return err
	}
	d.b.Sort()
	lset := d.b.Labels()
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return fmt.Errorf("%w: label %q twice in one series", errSyntax, name)
	}
	return fn(lset)
}

// object reads {"key":value,...}, member reading each value after its
// key.
func (d *seriesDecoder) object(member func(key string) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	for first := true; ; first = false {
		c, err := d.next()
		if err != nil {
			return err
		}
		if c == '}' {
			return nil
		}
		if !first {
			if c != ',' {
				return d.unexpected(c)
			}
			if c, err = d.next(); err != nil {
				return err
			}
		}
		if c != '"' {
			return d.unexpected(c)
		}
		key, err := d.string()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// array reads [elem, ...], elem reading each element.
func (d *seriesDecoder) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	c, err := d.next()
	if err != nil {
		return err
	}
	if c == ']' {
		return nil
	}
	if err := d.r.UnreadByte(); err != nil {
		return err
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		c, err := d.next()
		if err != nil {
			return err
		}
		switch c {
		case ']':
			return nil
		case ',':
		default:
			return d.unexpected(c)
		}
	}
}

// string reads the rest of a string whose opening quote has been read.
// Strings without escapes or non-ASCII bytes, nearly all label names and
// values, are taken as they are; any other is decoded by encoding/json, so
// that escapes and invalid UTF-8 come out as they always have.
func (d *seriesDecoder) string() (string, error) {
	d.scratch = d.scratch[:0]
	for {
		chunk, err := d.r.ReadSlice('"')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return "", d.eof(err)
		}
		d.scratch = append(d.scratch, chunk...)
		if err != nil {
			continue
		}
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for i := len(d.scratch) - 2; i >= 0 && d.scratch[i] == '\\'; i-- {
			n++
		}
		if n%2 == 0 {
			break
		}
	}
	s := d.scratch[:len(d.scratch)-1]
	plain := true
	for _, c := range s {
		if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		if v, ok := d.interned[string(s)]; ok {
			return v, nil
		}
		v := string(s)
		if len(d.interned) < maxInterned {
			d.interned[v] = v
		}
		return v, nil
	}
	quoted := make([]byte, 0, len(s)+2)
	quoted = append(append(append(quoted, '"'), s...), '"')
	var out string
	if err := json.Unmarshal(quoted, &out); err != nil {
		return "", fmt.Errorf("%w: %w", errSyntax, err)
	}
	return out, nil
}

// skip reads a value of any kind and drops it.
func (d *seriesDecoder) skip(depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("%w: nested more than %d deep", errSyntax, maxJSONDepth)
	}
	c, err := d.next()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		_, err := d.string()
		return err
	case '[':
		if err := d.r.UnreadByte(); err != nil {
			return err
		}
		return d.array(func() error { return d.skip(depth + 1) })
	case '{':
		if err := d.r.UnreadByte(); err != nil {
			return err
		}
		return d.object(func(string) error { return d.skip(depth + 1) })
	}
	// A number, true, false or null: up to the next delimiter.
	if !literalByte(c) {
		return d.unexpected(c)
	}
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return d.eof(err)
		}
		if !literalByte(c) {
			return d.r.UnreadByte()
		}
	}
}

func literalByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// next returns the next byte that is not white space.
func (d *seriesDecoder) next() (byte, error) {
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return 0, d.eof(err)
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c, nil
		}
	}
}

func (d *seriesDecoder) expect(want byte) error {
	c, err := d.next()
	if err != nil {
		return err
	}
	if c != want {
		return d.unexpected(c)
	}
	return nil
}

func (d *seriesDecoder) unexpected(c byte) error {
	return fmt.Errorf("%w: unexpected %q", errSyntax, c)
}

// eof turns the end of the answer inside a value into an error that says
// so; any other read error (a limit, a broken connection) stays as it is.
func (d *seriesDecoder) eof(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", errSyntax, io.ErrUnexpectedEOF)
	}
	return err
}
