package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
)

// TestEnvelopeJSON checks the hand-written encoding against the bytes
// Prometheus's API writes, and against what encoding/json makes of the same
// envelope once both are decoded.
func TestEnvelopeJSON(t *testing.T) {
	lset := labels.FromStrings("__name__", "up", "instance", "host:9100")
	odd := labels.FromStrings("a", `quote " and \ backslash`, "b", "<html> & co", "c", "ünïcödé", "d", "tab\tnewline\n", "e", "bad \xff utf-8", "f", "\u2028")
	h := &histogram.FloatHistogram{Count: 3, Sum: 4.5, Schema: 0, PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []float64{3}}
	for _, tc := range []struct {
		name string
		env  envelope
		want string // exact bytes; empty: compared with encoding/json only
	}{
		{
			name: "matrix",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{
				{Metric: lset, Floats: []promql.FPoint{{T: 0, F: 1}, {T: 1500, F: 0.25}, {T: 2001, F: -3}, {T: 3010, F: 1e21}, {T: 4000, F: 1e-7}}},
				{Metric: labels.EmptyLabels(), Floats: []promql.FPoint{{T: -1500, F: math.Inf(1)}, {T: 5, F: math.Inf(-1)}, {T: 6, F: math.NaN()}}},
			}}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[` +
				`{"metric":{"__name__":"up","instance":"host:9100"},"values":[[0,"1"],[1.500,"0.25"],[2.001,"-3"],[3.010,"1e+21"],[4,"1e-07"]]},` +
				`{"metric":{},"values":[[-1.500,"+Inf"],[0.005,"-Inf"],[0.006,"NaN"]]}]}}`,
		},
		{
			name: "vector",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{
				{Metric: lset, T: 1_700_000_000_123, F: 42.5},
			}}, Warnings: []string{"w1", "w2"}, Infos: []string{"i"}},
			want: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"host:9100"},"value":[1700000000.123,"42.5"]}]},"warnings":["w1","w2"],"infos":["i"]}`,
		},
		{
			name: "empty",
			env:  envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{}}},
			want: `{"status":"success","data":{"resultType":"matrix","result":[]}}`,
		},
		{
			name: "error",
			env:  envelope{Status: "error", ErrorType: errorTimeout, Error: `query timed out in "x"`},
			want: `{"status":"error","errorType":"timeout","error":"query timed out in \"x\""}`,
		},
		{
			name: "labels needing escapes",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{
				{Metric: odd, Floats: []promql.FPoint{{T: 1000, F: 1}}},
			}}},
		},
		{
			name: "histograms",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{
				{Metric: lset, Histograms: []promql.HPoint{{T: 1000, H: h}}},
				{Metric: lset, Floats: []promql.FPoint{{T: 1000, F: 1}}, Histograms: []promql.HPoint{{T: 2000, H: h}}},
			}}},
		},
		{
			name: "histogram sample",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{
				{Metric: lset, T: 1000, H: h}, {Metric: lset, T: 1000, F: 2},
			}}},
		},
		{
			name: "scalar and stats",
			env: envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeScalar, Result: promql.Scalar{T: 1000, V: 2},
				Stats: stats.NewQueryStats(&stats.Statistics{Timers: stats.NewQueryTimers(), Samples: stats.NewQuerySamples(false)})}},
		},
		{
			name: "other data",
			env:  envelope{Status: "success", Data: []string{"__name__", "job"}},
			want: `{"status":"success","data":["__name__","job"]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.env.appendJSON(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			std, err := json.Marshal(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := decode(t, got), decode(t, std); !reflect.DeepEqual(a, b) {
				t.Errorf("differs from encoding/json once decoded:\ngot  %s\nstd  %s", got, std)
			}
		})
	}
}

// decode parses JSON with numbers as float64, so 1.500 equals 1.5, and
// strings that are numbers as numbers, so "1e-07" equals "0.0000001".
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return numbers(v)
}

func numbers(v any) any {
	switch v := v.(type) {
	case string:
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) {
			return f
		}
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = numbers(v[k])
		}
	}
	return v
}

func BenchmarkMatrixJSON(b *testing.B) {
	m := make(promql.Matrix, 1000)
	for i := range m {
		m[i].Metric = labels.FromStrings("__name__", "http_requests_total", "instance", "host-00001:9100", "job", "node")
		for j := range 289 {
			m[i].Floats = append(m[i].Floats, promql.FPoint{T: 1_700_000_000_000 + int64(j)*300_000, F: float64(i*j) / 7})
		}
	}
	env := envelope{Status: "success", Data: queryData{ResultType: parser.ValueTypeMatrix, Result: m}}
	for _, enc := range []struct {
		name string
		fn   func() (size int, err error) // of the answer
	}{
		// As served: in pieces, each sent on (here to nowhere) and its
		// buffer reused.
		{"append", func() (int, error) {
			n := 0
			b, err := env.appendJSON(nil, func(b []byte) []byte {
				n += len(b)
				return b[:0]
			})
			return n + len(b), err
		}},
		{"encoding-json", func() (int, error) {
			b, err := json.Marshal(env)
			return len(b), err
		}},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := enc.fn()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(n))
			}
		})
	}
}

// writes records the size of every Write to a response.
type writes struct {
	*httptest.ResponseRecorder
	sizes []int
}

func (w *writes) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	return w.ResponseRecorder.Write(b)
}

// TestAnswerWrittenInPieces checks that a large answer leaves in pieces of
// about spillSize, never held whole as JSON, and that the pieces make up
// exactly the answer that one buffer would hold, headers and all.
func TestAnswerWrittenInPieces(t *testing.T) {
	big := make(promql.Matrix, 1000)
	for i := range big {
		big[i].Metric = labels.FromStrings("__name__", "requests_total", "instance", fmt.Sprintf("host-%04d:9100", i))
		for j := range 360 {
			big[i].Floats = append(big[i].Floats, promql.FPoint{T: 1_700_000_000_000 + int64(j)*60_000, F: float64(i*j) / 7})
		}
	}
	// One series longer than a piece: it is cut between points.
	long := promql.Matrix{{Metric: labels.FromStrings("__name__", "long")}}
	for j := range 20_000 {
		long[0].Floats = append(long[0].Floats, promql.FPoint{T: int64(j) * 15_000, F: float64(j)})
	}
	vector := make(promql.Vector, 5000)
	for i := range vector {
		vector[i] = promql.Sample{Metric: labels.FromStrings("__name__", "up", "instance", fmt.Sprintf("host-%04d:9100", i)), T: 1000, F: 1}
	}
	for _, tc := range []struct {
		name      string
		res       result
		cacheCtrl string
	}{
		{"matrix of 1000 series", result{data: queryData{ResultType: parser.ValueTypeMatrix, Result: big}}, ""},
		{"one long series, with warnings", result{data: queryData{ResultType: parser.ValueTypeMatrix, Result: long}, warnings: []string{"store b: unavailable"}}, "no-store"},
		{"vector", result{data: queryData{ResultType: parser.ValueTypeVector, Result: vector}}, ""},
		{"small", result{data: []string{"a", "b"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &API{opts: Options{Logger: slog.New(slog.DiscardHandler)}}
			w := &writes{ResponseRecorder: httptest.NewRecorder()}
			a.serve(func(*http.Request) result { return tc.res }).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/query", nil))

			whole, err := envelope{Status: "success", Data: tc.res.data, Warnings: tc.res.warnings}.appendJSON(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if w.Body.String() != string(whole) {
				t.Fatalf("the pieces (%d bytes) differ from the whole answer (%d bytes)", w.Body.Len(), len(whole))
			}
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Cache-Control") != tc.cacheCtrl {
				t.Errorf("status %d, Content-Type %q, Cache-Control %q; want 200, application/json, %q", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"), tc.cacheCtrl)
			}
			// A piece is cut after the point or series that passes spillSize.
			const most = spillSize + 1024
			if slices.Max(w.sizes) > most || len(w.sizes) < max(len(whole)/most, 1) {
				t.Errorf("%d bytes in %d writes of at most %d bytes; want none over %d", len(whole), len(w.sizes), slices.Max(w.sizes), most)
			}
		})
	}
}
