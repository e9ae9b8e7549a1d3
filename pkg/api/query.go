package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/stats"

	"github.com/tandem-metrics/tandem/pkg/query"
)

// queryData is the data of a query answer.
type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
	Stats      stats.QueryStats `json:"stats,omitempty"`
}

// The most warnings and infos one answer lists, as in Prometheus.
const maxAnnotations = 10

func (a *API) query(r *http.Request) result {
	ts, apiErr := timeParam(r, "time", a.opts.Now())
	if apiErr != nil {
		return result{err: apiErr}
	}
	return a.evaluate(r, func(ctx context.Context, e evaluation) (promql.Query, error) {
		return a.opts.Engine.NewInstantQuery(ctx, e.queryable, e.opts, e.expr, ts)
	})
}

func (a *API) queryRange(r *http.Request) result {
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return result{err: invalidParam("start", err)}
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return result{err: invalidParam("end", err)}
	}
	if end.Before(start) {
		return result{err: invalidParam("end", errors.New("end timestamp must not be before start time"))}
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return result{err: invalidParam("step", err)}
	}
	if step <= 0 {
		return result{err: invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))}
	}
	// Bound the points per series, so a typo in step cannot exhaust memory.
	if end.Sub(start)/step > maxPoints {
		return result{err: badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))}
	}
	return a.evaluate(r, func(ctx context.Context, e evaluation) (promql.Query, error) {
		return a.opts.Engine.NewRangeQuery(ctx, e.queryable, e.opts, e.expr, start, end, step)
	})
}

// evaluation is what every query shares: the expression, the data and the
// engine options of the request.
type evaluation struct {
	expr      string
	queryable storage.Queryable
	opts      promql.QueryOpts
}

func (a *API) evaluate(r *http.Request, newQuery func(context.Context, evaluation) (promql.Query, error)) (res result) {
	ctx := r.Context()
	limit, apiErr := limitParam(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	lookback, apiErr := durationParam(r, "lookback_delta")
	if apiErr != nil {
		return result{err: apiErr}
	}
	qopts, apiErr := a.queryOptions(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	qopts.LateWarnings = &query.Warnings{}
	e := evaluation{
		expr:      r.FormValue("query"),
		queryable: a.opts.Queryable(qopts),
		opts:      promql.NewPrometheusQueryOpts(r.FormValue("stats") == "all", lookback),
	}
	qry, err := newQuery(ctx, e)
	if err != nil {
		return result{err: invalidParam("query", err)}
	}
	// The result's points belong to the engine's pools until Close: it is
	// closed only once the answer is written (result.finalize), or here if
	// this returns without one, a panic included.
	defer func() {
		if res.finalize == nil {
			qry.Close()
		}
	}()

	out := qry.Exec(ctx)
	res.finalize = qry.Close
	out.Warnings.Merge(qopts.LateWarnings.Annotations())
	res.warnings, res.infos = out.Warnings.AsStrings(e.expr, maxAnnotations, maxAnnotations)
	if out.Err != nil {
		res.err = queryError(out.Err)
		return res
	}
	value, truncated := truncateResult(out.Value, limit)
	if truncated && len(res.warnings) < maxAnnotations {
		res.warnings = append(res.warnings, truncatedWarning)
	}
	data := queryData{ResultType: value.Type(), Result: nonNil(value)}
	if r.FormValue("stats") != "" {
		data.Stats = stats.NewQueryStats(qry.Stats())
	}
	res.data = data
	return res
}

// truncateResult keeps the first limit series of a vector or matrix, as
// Prometheus's limit parameter does; zero keeps all.
func truncateResult(v parser.Value, limit int) (parser.Value, bool) {
	if limit <= 0 {
		return v, false
	}
	switch v := v.(type) {
	case promql.Vector:
		if len(v) > limit {
			return v[:limit], true
		}
	case promql.Matrix:
		if len(v) > limit {
			return v[:limit], true
		}
	}
	return v, false
}

// nonNil makes empty vectors and matrices encode as [] rather than null.
func nonNil(v parser.Value) parser.Value {
	switch v := v.(type) {
	case promql.Vector:
		if v == nil {
			return promql.Vector{}
		}
	case promql.Matrix:
		if v == nil {
			return promql.Matrix{}
		}
	}
	return v
}

func (a *API) formatQuery(r *http.Request) result {
	expr, err := parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return result{err: invalidParam("query", err)}
	}
	return result{data: expr.Pretty(0)}
}
