package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tandem-metrics/tandem/pkg/query"
)

// The time bounds a request means when it leaves start or end out, as in
// Prometheus: the widest range whose RFC 3339 form still parses.
var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// maxPoints is the most points per series a range query may ask for.
const maxPoints = 11000

// Thanos's query parameters.
const (
	dedupParam           = "dedup"
	partialResponseParam = "partial_response"
	replicaLabelsParam   = "replicaLabels[]"
	storeMatchParam      = "storeMatch[]"
)

func invalidParam(name string, err error) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// parseTime reads a time as float Unix seconds or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration reads a duration as float seconds or a Prometheus duration.
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ns := d * float64(time.Second)
		if ns > float64(math.MaxInt64) || ns < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// timeParam reads an optional time parameter.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, invalidParam(name, err)
	}
	return t, nil
}

// durationParam reads an optional duration parameter.
func durationParam(r *http.Request, name string) (time.Duration, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return 0, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, invalidParam(name, err)
	}
	return d, nil
}

// limitParam reads the limit parameter; zero means none.
func limitParam(r *http.Request) (int, *apiError) {
	v := r.FormValue("limit")
	if v == "" {
		return 0, nil
	}
	limit, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalidParam("limit", err)
	}
	if limit < 0 {
		return 0, invalidParam("limit", errors.New("limit must be non-negative"))
	}
	return limit, nil
}

// queryOptions reads the Thanos parameters of a request over the defaults.
func (a *API) queryOptions(r *http.Request) (query.Options, *apiError) {
	return a.optionsOver(r, a.opts.Defaults)
}

// optionsOver reads the Thanos parameters of a request over opts.
func (a *API) optionsOver(r *http.Request, opts query.Options) (query.Options, *apiError) {
	for _, p := range []struct {
		name string
		dst  *bool
	}{
		{dedupParam, &opts.Dedup},
		{partialResponseParam, &opts.PartialResponse},
	} {
		v := r.FormValue(p.name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opts, invalidParam(p.name, err)
		}
		*p.dst = b
	}
	if rl := r.Form[replicaLabelsParam]; len(rl) > 0 {
		opts.ReplicaLabels = rl
	}
	if sm := r.Form[storeMatchParam]; len(sm) > 0 {
		matchers, err := selectors(sm)
		if err != nil {
			return opts, invalidParam(storeMatchParam, err)
		}
		opts.StoreMatchers = matchers
	}
	return opts, nil
}

// selectors parses series selectors (match[], storeMatch[]).
func selectors(ss []string) ([][]*labels.Matcher, error) {
	out := make([][]*labels.Matcher, 0, len(ss))
	for _, s := range ss {
		ms, err := parser.ParseMetricSelector(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ms)
	}
	return out, nil
}
