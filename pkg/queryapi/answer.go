package queryapi

import (
	"fmt"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb/prompb"
)

// answer writes one query's answer as Query API messages.
type answer struct {
	send      func(*querypb.QueryResponse) error
	batchSize int
}

func (a answer) warning(w error) error {
	return a.send(&querypb.QueryResponse{Result: &querypb.QueryResponse_Warnings{Warnings: w.Error()}})
}

// value sends the series of a vector, a matrix or a scalar (a series
// without labels) in batches of batchSize, one series per message for 1.
func (a answer) value(v parser.Value) error {
	var batch []*prompb.TimeSeries
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var m *querypb.QueryResponse
		if a.batchSize == 1 {
			m = querypb.NewQueryResponse(batch[0])
		} else {
			m = querypb.NewQueryBatchResponse(batch)
		}
		batch = nil
		return a.send(m)
	}
	add := func(ts *prompb.TimeSeries) error {
		batch = append(batch, ts)
		if len(batch) >= a.batchSize {
			return flush()
		}
		return nil
	}
	switch v := v.(type) {
	case promql.Vector:
		for _, s := range v {
			floats, histograms := prompb.SamplesFromPromqlSamples(s)
			if err := add(&prompb.TimeSeries{Labels: labelpb.ZLabelsFromPromLabels(s.Metric), Samples: floats, Histograms: histograms}); err != nil {
				return err
			}
		}
	case promql.Matrix:
		for _, s := range v {
			floats, histograms := prompb.SamplesFromPromqlSeries(s)
			if err := add(&prompb.TimeSeries{Labels: labelpb.ZLabelsFromPromLabels(s.Metric), Samples: floats, Histograms: histograms}); err != nil {
				return err
			}
		}
	case promql.Scalar:
		if err := add(&prompb.TimeSeries{Samples: []prompb.Sample{{Value: v.V, Timestamp: v.T}}}); err != nil {
			return err
		}
	case promql.String, nil:
		// No series: the Query API has no way to carry a string.
	default:
		return fmt.Errorf("unexpected result type %s", v.Type())
	}
	return flush()
}

// stats sends the samples the query read, last.
func (a answer) stats(q promql.Query) error {
	st := &querypb.QueryStats{}
	if s := q.Stats(); s != nil && s.Samples != nil {
		st.SamplesTotal = s.Samples.TotalSamples
		st.PeakSamples = int64(s.Samples.PeakSamples)
	}
	return a.send(querypb.NewQueryStatsResponse(st))
}

// AsRange is m as an answer of QueryRange, whose messages are those of
// Query under other names.
func AsRange(m *querypb.QueryResponse) *querypb.QueryRangeResponse {
	switch r := m.Result.(type) {
	case *querypb.QueryResponse_Warnings:
		return &querypb.QueryRangeResponse{Result: &querypb.QueryRangeResponse_Warnings{Warnings: r.Warnings}}
	case *querypb.QueryResponse_Timeseries:
		return querypb.NewQueryRangeResponse(r.Timeseries)
	case *querypb.QueryResponse_TimeseriesBatch:
		return &querypb.QueryRangeResponse{Result: &querypb.QueryRangeResponse_TimeseriesBatch{TimeseriesBatch: r.TimeseriesBatch}}
	case *querypb.QueryResponse_Stats:
		return querypb.NewQueryRangeStatsResponse(r.Stats)
	}
	return &querypb.QueryRangeResponse{}
}

// AsInstant is m, an answer of QueryRange, as one of Query, for clients
// that read both alike.
func AsInstant(m *querypb.QueryRangeResponse) *querypb.QueryResponse {
	switch r := m.Result.(type) {
	case *querypb.QueryRangeResponse_Warnings:
		return &querypb.QueryResponse{Result: &querypb.QueryResponse_Warnings{Warnings: r.Warnings}}
	case *querypb.QueryRangeResponse_Timeseries:
		return querypb.NewQueryResponse(r.Timeseries)
	case *querypb.QueryRangeResponse_TimeseriesBatch:
		return &querypb.QueryResponse{Result: &querypb.QueryResponse_TimeseriesBatch{TimeseriesBatch: r.TimeseriesBatch}}
	case *querypb.QueryRangeResponse_Stats:
		return querypb.NewQueryStatsResponse(r.Stats)
	}
	return &querypb.QueryResponse{}
}
