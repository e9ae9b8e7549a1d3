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

// Shape is one kind of query a dashboard asks.
type Shape struct {
	Name string
	Expr string
}

// Shapes are the queries measured, each over every Window.
var Shapes = []Shape{
	{Name: "raw 1k series", Expr: counterName + `{group="0"}`},
	{Name: "sum by code rate", Expr: `sum by (code) (rate(` + counterName + `[5m]))`},
	{Name: "histogram_quantile", Expr: `histogram_quantile(0.9, sum by (le) (rate(` + bucketName + `[5m])))`},
	{Name: "count by instance", Expr: `count by (instance) (` + counterName + `)`},
}

// Window is the time range of a range query, ending at the dataset's end,
// and its step: at most 11,000 points per series, as the API allows.
type Window struct {
	Length, Step time.Duration
}

// Windows are the ranges every shape is asked over.
var Windows = []Window{
	{Length: 6 * time.Hour, Step: time.Minute},
	{Length: 24 * time.Hour, Step: 5 * time.Minute},
}

// rangeQuery is one query_range request.
type rangeQuery struct {
	expr       string
	start, end time.Time
	step       time.Duration
}

func (q rangeQuery) params() url.Values {
	return url.Values{
		"query": {q.expr},
		"start": {strconv.FormatInt(q.start.Unix(), 10)},
		"end":   {strconv.FormatInt(q.end.Unix(), 10)},
		"step":  {strconv.FormatFloat(q.step.Seconds(), 'f', -1, 64)},
	}
}

// answer is what one run of a query returned.
type answer struct {
	took   time.Duration
	series int
	bytes  int
}

// run asks the Prometheus HTTP API at base and times the whole exchange,
// up to the last byte of the answer.
func (q rangeQuery) run(ctx context.Context, client *http.Client, base string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query_range?"+q.params().Encode(), nil)
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
			Result []json.RawMessage `json:"result"`
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
	if len(env.Data.Result) == 0 {
		return answer{}, fmt.Errorf("%s: empty result for %s", base, q.expr)
	}
	return answer{took: took, series: len(env.Data.Result), bytes: len(body)}, nil
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
