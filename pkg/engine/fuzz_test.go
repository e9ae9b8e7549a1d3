package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/promql-engine/logicalplan"
	"github.com/thanos-io/promql-engine/query"

	"github.com/tandem-metrics/tandem/pkg/engine"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// FuzzPlan feeds any bytes as the plan of a Query API request to Thanos's
// engine: it either evaluates it, evaluates the query string instead or
// fails; it never crashes the process.
func FuzzPlan(f *testing.F) {
	at := time.Unix(3600, 0)
	for _, qs := range []string{`sum(rate(requests_total[5m]))`, `topk(2, requests_total) by (instance)`, `avg(requests_total) / count(requests_total)`,
		`label_replace(requests_total, "a", "$1", "instance", "(.*)")`, `histogram_quantile(0.9, sum by (le) (rate(x[5m])))`, `requests_total @ 100 offset 5m`} {
		expr, err := parser.ParseExpr(qs)
		if err != nil {
			f.Fatal(err)
		}
		plan, err := logicalplan.NewFromAST(expr, &query.Options{Start: at, End: at}, logicalplan.PlanOptions{})
		if err != nil {
			f.Fatal(err)
		}
		b, err := logicalplan.Marshal(plan.Root())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	set := newEngines(f, engine.Local)
	e, err := set.Get(engine.Thanos)
	if err != nil {
		f.Fatal(err)
	}
	db := storetest.OpenTSDB(f, replicaData(0)...)
	f.Fuzz(func(t *testing.T, plan []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		qry, err := e.NewInstantQueryFromPlan(ctx, db, nil, plan, "requests_total", at)
		if err == nil {
			qry.Exec(ctx)
			qry.Close()
		}
		qry, err = e.NewRangeQueryFromPlan(ctx, db, nil, plan, "requests_total", at.Add(-time.Hour), at, time.Minute)
		if err == nil {
			qry.Exec(ctx)
			qry.Close()
		}
	})
}
