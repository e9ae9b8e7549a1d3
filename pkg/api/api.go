// Package api answers the Prometheus HTTP API (/api/v1) over the query
// stack, with the Thanos query parameters (dedup, partial_response,
// replicaLabels[], storeMatch[]).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/tandem-metrics/tandem/pkg/query"
)

// Options are what the API is built from.
type Options struct {
	// Engine evaluates PromQL.
	Engine promql.QueryEngine
	// Queryable returns the data the engine reads, for one request's
	// options.
	Queryable func(query.Options) storage.Queryable
	// Defaults are the query options of a request that sets none.
	Defaults query.Options
	// Timeout bounds each query, series or label request, its wait for a
	// slot and its parsing included; a request's timeout parameter can only
	// shorten it. Zero means no bound.
	Timeout time.Duration
	// MaxConcurrent bounds how many of those requests run at once; more
	// wait. Zero means no bound.
	MaxConcurrent int
	// Sources answer the rules, alerts, targets, metadata and exemplars
	// endpoints; nil answers them 503.
	Sources Sources
	// SourcesPartialResponse are the defaults of partial_response on those
	// endpoints.
	SourcesPartialResponse SourcesPartialResponse
	// Ready reports whether the stores are known (first discovery round).
	Ready func() bool
	// RoutePrefix is the path under which every endpoint is served.
	RoutePrefix string
	// Flags are shown by /api/v1/status/flags.
	Flags map[string]string
	// Gatherer is served on /metrics; Registerer takes the API's own metrics.
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// API is the HTTP API. Use Handler to serve it.
type API struct {
	opts      Options
	gate      chan struct{}
	startTime time.Time
	metrics   *metrics
}

// New returns the API.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	a := &API{opts: opts, startTime: opts.Now(), metrics: newMetrics(opts.Registerer)}
	if opts.MaxConcurrent > 0 {
		a.gate = make(chan struct{}, opts.MaxConcurrent)
		a.metrics.registerGate(opts.Registerer, a.gate)
	}
	return a
}

// Handler returns the routes of the API under the route prefix.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	prefix := strings.TrimRight(a.opts.RoutePrefix, "/")
	handle := func(pattern string, methods []string, h apiFunc) {
		for _, m := range methods {
			mux.Handle(m+" "+prefix+pattern, a.metrics.instrument(pattern, a.serve(h)))
		}
	}
	getPost := []string{http.MethodGet, http.MethodPost}
	get := []string{http.MethodGet}

	handle("/api/v1/query", getPost, a.limited(a.query))
	handle("/api/v1/query_range", getPost, a.limited(a.queryRange))
	handle("/api/v1/format_query", getPost, a.limited(a.formatQuery))
	handle("/api/v1/series", getPost, a.limited(a.series))
	handle("/api/v1/labels", getPost, a.limited(a.labelNames))
	handle("/api/v1/label/{name}/values", get, a.limited(a.labelValues))
	handle("/api/v1/metadata", get, a.limited(a.metadata))
	handle("/api/v1/query_exemplars", getPost, a.limited(a.queryExemplars))
	handle("/api/v1/rules", get, a.limited(a.rules))
	handle("/api/v1/alerts", get, a.limited(a.alerts))
	handle("/api/v1/targets", get, a.limited(a.targets))
	handle("/api/v1/targets/metadata", get, a.limited(a.targetMetadata))
	handle("/api/v1/status/buildinfo", get, a.buildInfo)
	handle("/api/v1/status/flags", get, a.flags)
	handle("/api/v1/status/runtimeinfo", get, a.runtimeInfo)

	mux.HandleFunc("GET "+prefix+"/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Tandem query is Healthy.\n"))
	})
	mux.HandleFunc("GET "+prefix+"/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !a.opts.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("Service Unavailable\n"))
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Tandem query is Ready.\n"))
	})
	if a.opts.Gatherer != nil {
		mux.Handle("GET "+prefix+"/metrics", promhttp.HandlerFor(a.opts.Gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

// apiFunc handles one endpoint: it returns the data of a success, or an
// error, and the warnings either way.
type apiFunc func(r *http.Request) result

type result struct {
	data     any
	err      *apiError
	warnings []string
	infos    []string
	// finalize, if set, releases what data points into (a PromQL query's
	// pooled points); serve calls it once the answer is written.
	finalize func()
}

// errorType is the Prometheus API's errorType.
type errorType string

const (
	errorBadData   errorType = "bad_data"
	errorExec      errorType = "execution"
	errorTimeout   errorType = "timeout"
	errorCanceled  errorType = "canceled"
	errorInternal  errorType = "internal"
	errorNotFound  errorType = "not_found"
	errorAvailable errorType = "unavailable"
)

type apiError struct {
	typ errorType
	err error
}

func (e *apiError) Error() string { return e.err.Error() }

func badData(err error) *apiError { return &apiError{errorBadData, err} }

// statusCode is the HTTP status Prometheus answers an error type with.
func (t errorType) statusCode() int {
	switch t {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return 499 // nginx's "client closed request", as Prometheus uses
	case errorTimeout, errorAvailable:
		return http.StatusServiceUnavailable
	case errorNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// queryError classifies an error of query evaluation as Prometheus does.
func queryError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errorTimeout, err}
	case errors.As(err, &storage):
		return &apiError{errorInternal, err}
	}
	return &apiError{errorExec, err}
}

// envelope is the JSON body of every API answer.
type envelope struct {
	Status    string    `json:"status"`
	Data      any       `json:"data,omitempty"`
	ErrorType errorType `json:"errorType,omitempty"`
	Error     string    `json:"error,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	Infos     []string  `json:"infos,omitempty"`
}

func (a *API) serve(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res result
		if err := r.ParseForm(); err != nil {
			res = result{err: badData(fmt.Errorf("error parsing form values: %w", err))}
		} else {
			res = h(r)
		}
		if res.finalize != nil {
			defer res.finalize()
		}
		body := envelope{Status: "success", Data: res.data, Warnings: res.warnings, Infos: res.infos}
		code := http.StatusOK
		if res.err != nil {
			body = envelope{
				Status:    "error",
				ErrorType: res.err.typ,
				Error:     res.err.Error(),
				Data:      res.data,
				Warnings:  res.warnings,
				Infos:     res.infos,
			}
			code = res.err.typ.statusCode()
		}
		started := false
		start := func() {
			started = true
			w.Header().Set("Content-Type", "application/json")
			if len(res.warnings) > 0 {
				// A partial answer must not be served again from a cache
				// once the failed stores are back.
				w.Header().Set("Cache-Control", "no-store")
			}
			w.WriteHeader(code)
		}
		b, err := body.appendJSON(nil, func(b []byte) []byte {
			if !started {
				start()
			}
			_, _ = w.Write(b)
			return b[:0]
		})
		if err != nil {
			a.opts.Logger.Error("Marshal API response", "path", r.URL.Path, "err", err)
			if started {
				// Part of a 200 is out: end the response short of valid
				// JSON rather than let it pass for a whole answer.
				panic(http.ErrAbortHandler)
			}
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if !started {
			start()
		}
		_, _ = w.Write(b)
	})
}
