package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

const truncatedWarning = "results truncated due to limit"

// hintLimit asks the stores for one more than the limit, so the answer
// shows whether the limit truncated it.
func hintLimit(limit int) int {
	if limit > 0 {
		return limit + 1
	}
	return 0
}

// seriesRange is what the metadata endpoints share: the time range, the
// limit, the optional match[] selectors and the data of the request.
type seriesRange struct {
	queryable storage.Queryable
	matchers  [][]*labels.Matcher
	start     int64
	end       int64
	limit     int
}

func (a *API) seriesRange(r *http.Request) (seriesRange, *apiError) {
	var sr seriesRange
	start, apiErr := timeParam(r, "start", minTime)
	if apiErr != nil {
		return sr, apiErr
	}
	end, apiErr := timeParam(r, "end", maxTime)
	if apiErr != nil {
		return sr, apiErr
	}
	if sr.limit, apiErr = limitParam(r); apiErr != nil {
		return sr, apiErr
	}
	matchers, err := selectors(r.Form["match[]"])
	if err != nil {
		return sr, invalidParam("match[]", err)
	}
	opts, apiErr := a.queryOptions(r)
	if apiErr != nil {
		return sr, apiErr
	}
	sr.matchers, sr.start, sr.end = matchers, timestamp.FromTime(start), timestamp.FromTime(end)
	sr.queryable = a.opts.Queryable(opts)
	return sr, nil
}

func (sr seriesRange) querier() (storage.Querier, *apiError) {
	q, err := sr.queryable.Querier(sr.start, sr.end)
	if err != nil {
		return nil, &apiError{errorExec, err}
	}
	return q, nil
}

// series answers /api/v1/series: the union of the series of every match[]
// selector, sorted, within limit. Each selector has a querier of its own,
// all selected at once, so that the stores are asked for as many at a time
// as --query.max-concurrent-select lets; each is read in turn and closed as
// soon as it has given what the limit can use.
func (a *API) series(r *http.Request) result {
	if len(r.Form["match[]"]) == 0 {
		return result{err: badData(errors.New("no match[] parameter provided"))}
	}
	sr, apiErr := a.seriesRange(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	hints := &storage.SelectHints{Start: sr.start, End: sr.end, Func: "series", Limit: hintLimit(sr.limit)}
	queriers := make([]storage.Querier, 0, len(sr.matchers))
	defer func() {
		for _, q := range queriers {
			if q != nil {
				q.Close()
			}
		}
	}()
	sets := make([]storage.SeriesSet, len(sr.matchers))
	for i, ms := range sr.matchers {
		q, apiErr := sr.querier()
		if apiErr != nil {
			return result{err: apiErr}
		}
		queriers = append(queriers, q)
		sets[i] = q.Select(r.Context(), true, hints, ms...)
	}

	metrics := []labels.Labels{}
	var warns annotations.Annotations
	for i, set := range sets {
		// The first limit+1 of each sorted set hold the first limit+1 of
		// their union, which tell whether the limit truncates it.
		for n := 0; (sr.limit == 0 || n <= sr.limit) && set.Next(); n++ {
			metrics = append(metrics, set.At().Labels())
		}
		warns.Merge(set.Warnings())
		if err := set.Err(); err != nil {
			return result{err: queryError(err), warnings: annotationStrings(warns)}
		}
		queriers[i].Close()
		queriers[i] = nil
	}
	slices.SortFunc(metrics, labels.Compare)
	metrics = slices.CompactFunc(metrics, labels.Equal)
	warnings := annotationStrings(warns)
	if sr.limit > 0 && len(metrics) > sr.limit {
		metrics = metrics[:sr.limit]
		warnings = append(warnings, truncatedWarning)
	}
	return result{data: metrics, warnings: warnings}
}

func (a *API) labelNames(r *http.Request) result {
	return a.labelStrings(r, func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(r.Context(), hints, ms...)
	})
}

func (a *API) labelValues(r *http.Request) result {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return result{err: badData(fmt.Errorf("invalid label name: %q", name))}
	}
	return a.labelStrings(r, func(q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(r.Context(), name, hints, ms...)
	})
}

// labelStrings answers a label names or values request: the union of what
// get returns for each match[] selector (or for none), within limit.
func (a *API) labelStrings(r *http.Request, get func(storage.Querier, *storage.LabelHints, []*labels.Matcher) ([]string, annotations.Annotations, error)) result {
	sr, apiErr := a.seriesRange(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	q, apiErr := sr.querier()
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer q.Close()

	hints := &storage.LabelHints{Limit: hintLimit(sr.limit)}
	var (
		out   []string
		warns annotations.Annotations
	)
	if len(sr.matchers) == 0 {
		sr.matchers = [][]*labels.Matcher{nil}
	}
	for _, ms := range sr.matchers {
		v, w, err := get(q, hints, ms)
		warns.Merge(w)
		if err != nil {
			return result{err: queryError(err), warnings: annotationStrings(warns)}
		}
		out = append(out, v...)
	}
	return limitedStrings(out, sr.limit, warns)
}

// limitedStrings sorts and deduplicates names or values of several
// selectors and applies the limit.
func limitedStrings(ss []string, limit int, warns annotations.Annotations) result {
	slices.Sort(ss)
	ss = slices.Compact(ss)
	if ss == nil {
		ss = []string{}
	}
	warnings := annotationStrings(warns)
	if limit > 0 && len(ss) > limit {
		ss = ss[:limit]
		warnings = append(warnings, truncatedWarning)
	}
	return result{data: ss, warnings: warnings}
}

func annotationStrings(a annotations.Annotations) []string {
	warnings, _ := a.AsStrings("", maxAnnotations, maxAnnotations)
	if len(warnings) == 0 {
		return nil
	}
	return warnings
}
