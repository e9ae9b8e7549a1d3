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
// limit, the optional match[] selectors and a querier over the range.
type seriesRange struct {
	querier  storage.Querier
	matchers [][]*labels.Matcher
	start    int64
	end      int64
	limit    int
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
	q, err := a.opts.Queryable(opts).Querier(sr.start, sr.end)
	if err != nil {
		return sr, &apiError{errorExec, err}
	}
	sr.querier = q
	return sr, nil
}

func (a *API) series(r *http.Request) result {
	if len(r.Form["match[]"]) == 0 {
		return result{err: badData(errors.New("no match[] parameter provided"))}
	}
	sr, apiErr := a.seriesRange(r)
	if apiErr != nil {
		return result{err: apiErr}
	}
	defer sr.querier.Close()

	hints := &storage.SelectHints{Start: sr.start, End: sr.end, Func: "series", Limit: hintLimit(sr.limit)}
	var sets []storage.SeriesSet
	for _, ms := range sr.matchers {
		sets = append(sets, sr.querier.Select(r.Context(), true, hints, ms...))
	}
	set := sets[0]
	if len(sets) > 1 {
		set = storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
	}

	metrics := []labels.Labels{}
	var truncated bool
	for set.Next() {
		if sr.limit > 0 && len(metrics) == sr.limit {
			truncated = true
			break
		}
		metrics = append(metrics, set.At().Labels())
	}
	warnings := annotationStrings(set.Warnings())
	if truncated {
		warnings = append(warnings, truncatedWarning)
	}
	if err := set.Err(); err != nil {
		return result{err: queryError(err), warnings: warnings}
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
	defer sr.querier.Close()

	hints := &storage.LabelHints{Limit: hintLimit(sr.limit)}
	var (
		out   []string
		warns annotations.Annotations
	)
	if len(sr.matchers) == 0 {
		sr.matchers = [][]*labels.Matcher{nil}
	}
	for _, ms := range sr.matchers {
		v, w, err := get(sr.querier, hints, ms)
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
