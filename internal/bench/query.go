package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Shape is one kind of query a dashboard or an alert rule asks.
type Shape struct {
	Name string
	Expr string
}

var (
	rawSeries      = Shape{Name: "raw 1k series", Expr: counterName + `{group="0"}`}
	sumRate        = Shape{Name: "sum by code rate", Expr: `sum by (code) (rate(` + counterName + `[5m]))`}
	classicQuant   = Shape{Name: "histogram_quantile", Expr: `histogram_quantile(0.9, sum by (le) (rate(` + bucketName + `[5m])))`}
	nativeQuant    = Shape{Name: "native histogram_quantile", Expr: `histogram_quantile(0.9, sum(rate(` + nativeName + `[5m])))`}
	countInstance  = Shape{Name: "count by instance", Expr: `count by (instance) (` + counterName + `)`}
	errorRateAlert = Shape{Name: "alert: error rate", Expr: `sum by (instance) (rate(` + counterName + `{code!="200"}[5m])) > 1`}
	topIncrease    = Shape{Name: "table: topk increase", Expr: `topk(10, sum by (instance) (increase(` + counterName + `[1h])))`}
)

// Window is what a query asks over: a range ending at the dataset's end and
// its step (at most 11,000 points per series, as the API allows), or, with
// no length, an instant at the end.
type Window struct {
	Length, Step time.Duration
}

func (w Window) instant() bool { return w.Length == 0 }

// String is "6h / 15s", or "instant".
func (w Window) String() string {
	if w.instant() {
		return "instant"
	}
	return shortDuration(w.Length) + " / " + shortDuration(w.Step)
}

var (
	// 15 s is the step Grafana picks for 6 h on a wide panel.
	sixHours15s = Window{Length: 6 * time.Hour, Step: 15 * time.Second}
	sixHours1m  = Window{Length: 6 * time.Hour, Step: time.Minute}
	oneDay5m    = Window{Length: 24 * time.Hour, Step: 5 * time.Minute}
	instant     = Window{}
)

// Row is one shape asked over one window.
type Row struct {
	Shape  Shape
	Window Window
}

func (r Row) String() string { return r.Shape.Name + ", " + r.Window.String() }

// Rows are what the benchmark measures: the panels of a dashboard at the
// steps Grafana picks, and the instant queries of table panels and alert
// rules.
var Rows = []Row{
	{rawSeries, sixHours1m}, {rawSeries, oneDay5m},
	{sumRate, sixHours15s}, {sumRate, sixHours1m}, {sumRate, oneDay5m},
	{classicQuant, sixHours15s}, {classicQuant, oneDay5m},
	{nativeQuant, sixHours15s}, {nativeQuant, oneDay5m},
	{countInstance, sixHours1m}, {countInstance, oneDay5m},
	{sumRate, instant}, {errorRateAlert, instant}, {topIncrease, instant},
}

// request is one query or query_range request.
type request struct {
	expr       string
	start, end time.Time // start is unused for an instant query
	step       time.Duration
}

func (q request) instant() bool { return q.step == 0 }

func (q request) url(base string) string {
	if q.instant() {
		return base + "/api/v1/query?" + url.Values{
			"query": {q.expr},
			"time":  {strconv.FormatInt(q.end.Unix(), 10)},
		}.Encode()
	}
	return base + "/api/v1/query_range?" + url.Values{
		"query": {q.expr},
		"start": {strconv.FormatInt(q.start.Unix(), 10)},
		"end":   {strconv.FormatInt(q.end.Unix(), 10)},
		"step":  {strconv.FormatFloat(q.step.Seconds(), 'f', -1, 64)},
	}.Encode()
}

// answer is what one run of a query returned.
type answer struct {
	took   time.Duration
	series int
	bytes  int
	result json.RawMessage // the data's result, to compare answers by value
}

// run asks the Prometheus HTTP API at base and times the whole exchange,
// up to the last byte of the answer.
func (q request) run(ctx context.Context, client *http.Client, base string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.url(base), nil)
	if err != nil {
		return answer{}, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return answer{}, fmt.Errorf("%s: read answer: %w", base, err)
	}
	var env struct {
		Status   string   `json:"status"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
		Data     struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return answer{}, fmt.Errorf("%s: %s: not API JSON: %w", base, resp.Status, err)
	}
	if env.Status != "success" {
		return answer{}, fmt.Errorf("%s: %s: %s", base, resp.Status, env.Error)
	}
	if len(env.Warnings) > 0 {
		return answer{}, fmt.Errorf("%s: warnings: %q", base, env.Warnings)
	}
	var result []json.RawMessage
	if err := json.Unmarshal(env.Data.Result, &result); err != nil || len(result) == 0 {
		return answer{}, fmt.Errorf("%s: no series for %s (%v)", base, q.expr, err)
	}
	return answer{took: took, series: len(result), bytes: len(body), result: env.Data.Result}, nil
}

// summarise takes the median and the 90th percentile (nearest rank).
func summarise(took []time.Duration) Latency {
	s := slices.Clone(took)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return Latency{}
	}
	median := s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	rank := (9*n + 9) / 10 // ceil(0.9 n)
	return Latency{Median: median.Seconds(), P90: s[rank-1].Seconds(), Runs: n}
}
