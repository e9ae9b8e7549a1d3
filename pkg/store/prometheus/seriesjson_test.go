package prometheus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// decodeSeriesAnswer decodes a series answer, keeping every series.
func decodeSeriesAnswer(body string) ([]labels.Labels, []string, error) {
	var got []labels.Labels
	warnings, err := newSeriesDecoder(strings.NewReader(body)).decode(func(lset labels.Labels) error {
		got = append(got, lset)
		return nil
	})
	return got, warnings, err
}

// reference decodes a series answer with encoding/json.
func reference(t *testing.T, body string) ([]labels.Labels, []string) {
	t.Helper()
	var v struct {
		Data     []map[string]string
		Warnings []string
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	var out []labels.Labels
	for _, m := range v.Data {
		out = append(out, labels.FromMap(m))
	}
	return out, v.Warnings
}

func equalSeries(a, b []labels.Labels) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestSeriesDecoder checks the decoder against encoding/json on answers
// that are JSON, and that it refuses, with errSyntax, what is not.
func TestSeriesDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"plain", `{"status":"success","data":[{"__name__":"up","job":"a"},{"__name__":"up","job":"b"}]}`},
		{"no series", `{"status":"success","data":[]}`},
		{"empty answer", `{}`},
		{"an empty series", `{"data":[{}]}`},
		{"unsorted labels", `{"data":[{"z":"1","a":"2","__name__":"x"}]}`},
		{"white space everywhere", " {\n\t\"status\" : \"success\" ,\r\n \"data\" : [ { \"a\" : \"1\" , \"b\" : \"2\" } , {\"a\":\"3\"} ] } "},
		{"escapes", `{"data":[{"a":"quote \" backslash \\ slash \/ tab \t newline \n","b":"\u00e9\ud83d\ude00\u2028","c\"d":"\\"}]}`},
		{"non-ASCII as it is", `{"data":[{"a":"ünïcödé","b":"日本"}]}`},
		{"invalid UTF-8", "{\"data\":[{\"a\":\"bad \xff byte\"}]}"},
		{"warnings and infos", `{"status":"success","warnings":["w1","w \"2\""],"infos":["i"],"data":[{"a":"1"}]}`},
		{"warnings after data", `{"data":[{"a":"1"}],"warnings":["late"]}`},
		{"fields of every kind", `{"n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"x":[1,{"y":"}"}],"e":{}},"a":[],"s":"]","data":[{"a":"1"}],"after":[[[]]]}`},
		{"long values", `{"data":[{"a":"` + strings.Repeat("x", 100_000) + `","b":"` + strings.Repeat(`\"`, 50_000) + `"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings, err := decodeSeriesAnswer(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			want, wantWarnings := reference(t, tc.body)
			if !equalSeries(got, want) {
				t.Errorf("series %v, want %v", got, want)
			}
			if strings.Join(warnings, "|") != strings.Join(wantWarnings, "|") {
				t.Errorf("warnings %q, want %q", warnings, wantWarnings)
			}
		})
	}

	for _, tc := range []struct {
		name, body string
	}{
		{"empty", ``},
		{"cut in a string", `{"data":[{"a":"1`},
		{"cut after a series", `{"data":[{"a":"1"},`},
		{"trailing comma", `{"data":[{"a":"1"},]}`},
		{"trailing comma in a series", `{"data":[{"a":"1",}]}`},
		{"no colon", `{"data":[{"a" "1"}]}`},
		{"a number for a value", `{"data":[{"a":1}]}`},
		{"a series that is no object", `{"data":[["a","1"]]}`},
		{"data that is no array", `{"data":{"a":"1"}}`},
		{"a control byte in a string", "{\"data\":[{\"a\":\"x\ty\"}]}"},
		{"a bad escape", `{"data":[{"a":"\x"}]}`},
		{"a label twice", `{"data":[{"a":"1","a":"2"}]}`},
		{"nested too deep", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"data":[]}`},
		{"a bare word", `{"x":nope!,"data":[]}`},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			if _, _, err := decodeSeriesAnswer(tc.body); !errors.Is(err, errSyntax) {
				t.Fatalf("error %v, want a syntax error", err)
			}
		})
	}
}

// FuzzSeriesDecoder checks, on answers encoding/json writes for any label
// names and values, that the decoder reads back the labels written; and, on
// any bytes, that it returns rather than panics.
func FuzzSeriesDecoder(f *testing.F) {
	f.Add("__name__", "up", "job", `a "quoted" \ value`, "\u2028 ü \xff", []byte(`{"data":[{"a":"1"}]}`))
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, extra string, raw []byte) {
		// Names that differ only in invalid UTF-8 are written alike.
		if strings.ToValidUTF8(n1, "\ufffd") != strings.ToValidUTF8(n2, "\ufffd") {
			m := map[string]string{n1: v1, n2: v2}
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			x, err := json.Marshal(extra)
			if err != nil {
				t.Fatal(err)
			}
			body := `{"extra":` + string(x) + `,"data":[` + string(data) + `,{}],"warnings":[` + string(x) + `]}`
			got, warnings, err := decodeSeriesAnswer(body)
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			want, wantWarnings := reference(t, body)
			if !equalSeries(got, want) || len(warnings) != 1 || warnings[0] != wantWarnings[0] {
				t.Fatalf("%s: series %v warnings %q, want %v %q", body, got, warnings, want, wantWarnings)
			}
		}
		_, _, _ = decodeSeriesAnswer(string(raw))
	})
}

// BenchmarkSeriesDecoder reads the labels of 2,000 series as the bench's
// counters have them, against encoding/json decoding each into a map.
func BenchmarkSeriesDecoder(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"status":"success","data":[`)
	for i := range 2000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"__name__":"bench_requests_total","code":"%d","group":"%d","instance":"host-%04d:9100","job":"bench"}`, 200+i%4, i%10, i/4)
	}
	sb.WriteString(`]}`)
	body := sb.String()
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newSeriesDecoder(strings.NewReader(body)).decode(func(labels.Labels) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v struct{ Data []map[string]string }
			if err := json.NewDecoder(strings.NewReader(body)).Decode(&v); err != nil {
				b.Fatal(err)
			}
			for _, m := range v.Data {
				_ = labels.FromMap(m)
			}
		}
	})
}
