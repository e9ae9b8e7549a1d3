package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"go.yaml.in/yaml/v2"
)

// Client talks to one Prometheus server over its HTTP API.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client for the Prometheus at base.
func NewClient(base *url.URL, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: base, http: hc}
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.base.String() }

func (c *Client) endpoint(p string) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	return u.String()
}

// do sends req and returns the response if its status is 2xx; otherwise the
// error carries the status and the start of the body, which is where
// Prometheus says what went wrong.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	u := c.endpoint(path)
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

// Ready reports whether Prometheus answers its readiness probe.
func (c *Client) Ready(ctx context.Context) error {
	resp, err := c.get(ctx, "/-/ready", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// maxAPIResponse bounds the body of one HTTP API answer the sidecar reads
// whole, such as the rules or targets of a large Prometheus.
const maxAPIResponse = 64 << 20

// query sends an HTTP API request with params: a GET, or a form POST where
// long matcher lists would exceed URL limits (Prometheus accepts both).
func (c *Client) query(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	if params == nil || len(params.Encode()) <= 2048 {
		return c.get(ctx, path, params)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(path), strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *Client) api(ctx context.Context, path string, params url.Values, data any) ([]string, error) {
	resp, err := c.query(ctx, path, params)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(body) > maxAPIResponse {
		return nil, fmt.Errorf("%s: answer larger than %d MiB", path, maxAPIResponse>>20)
	}
	var env apiResponse
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return nil, fmt.Errorf("decode %s data: %w", path, err)
	}
	return env.Warnings, nil
}

// promConfig is what the sidecar reads from Prometheus's loaded
// configuration.
type promConfig struct {
	external labels.Labels
	// oooWindow is storage.tsdb.out_of_order_time_window, in ms: how far
	// behind its newest sample the head still takes samples.
	oooWindow int64
}

// config reads Prometheus's loaded configuration.
func (c *Client) config(ctx context.Context) (promConfig, error) {
	var data struct {
		YAML string `json:"yaml"`
	}
	if _, err := c.api(ctx, "/api/v1/status/config", nil, &data); err != nil {
		return promConfig{external: labels.EmptyLabels()}, err
	}
	var cfg struct {
		Global struct {
			ExternalLabels map[string]string `yaml:"external_labels"`
		} `yaml:"global"`
		Storage struct {
			TSDB struct {
				OutOfOrderTimeWindow model.Duration `yaml:"out_of_order_time_window"`
			} `yaml:"tsdb"`
		} `yaml:"storage"`
	}
	if err := yaml.Unmarshal([]byte(data.YAML), &cfg); err != nil {
		return promConfig{external: labels.EmptyLabels()}, fmt.Errorf("parse Prometheus config: %w", err)
	}
	return promConfig{
		external:  labels.FromMap(cfg.Global.ExternalLabels),
		oooWindow: time.Duration(cfg.Storage.TSDB.OutOfOrderTimeWindow).Milliseconds(),
	}, nil
}

// Flags returns the command-line flags Prometheus runs with, by name
// without dashes.
func (c *Client) Flags(ctx context.Context) (map[string]string, error) {
	var flags map[string]string
	if _, err := c.api(ctx, "/api/v1/status/flags", nil, &flags); err != nil {
		return nil, err
	}
	return flags, nil
}

// tsdbTimes are the TSDB's bounds as Prometheus's own metrics give them,
// in ms.
type tsdbTimes struct {
	lowest  int64 // the oldest sample
	headMin int64 // the oldest sample in the head; math.MaxInt64 if empty or unknown
}

// times reads the TSDB's bounds from Prometheus's /metrics.
func (c *Client) times(ctx context.Context) (tsdbTimes, error) {
	t := tsdbTimes{headMin: math.MaxInt64}
	resp, err := c.get(ctx, "/metrics", nil)
	if err != nil {
		return t, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return t, fmt.Errorf("parse Prometheus metrics: %w", err)
	}
	gauge := func(name string) (float64, bool) {
		if f, ok := families[name]; ok && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
		return 0, false
	}
	if v, ok := gauge("prometheus_tsdb_head_min_time"); ok && v < math.MaxInt64 {
		t.headMin = int64(v)
	}
	if v, ok := gauge("prometheus_tsdb_lowest_timestamp_seconds"); ok {
		t.lowest = secondsToMillis(v)
		return t, nil
	}
	if v, ok := gauge("prometheus_tsdb_lowest_timestamp"); ok {
		t.lowest = int64(v)
		return t, nil
	}
	return t, errors.New("no prometheus_tsdb_lowest_timestamp_seconds metric in what Prometheus exposes")
}

func secondsToMillis(s float64) int64 {
	if s*1000 >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(s * 1000)
}

// LabelNames asks /api/v1/labels.
func (c *Client) LabelNames(ctx context.Context, matchers []*labels.Matcher, start, end int64, limit int64) ([]string, []string, error) {
	var names []string
	w, err := c.api(ctx, "/api/v1/labels", labelParams(matchers, start, end, limit), &names)
	return names, w, err
}

// LabelValues asks /api/v1/label/<name>/values.
func (c *Client) LabelValues(ctx context.Context, name string, matchers []*labels.Matcher, start, end int64, limit int64) ([]string, []string, error) {
	var values []string
	w, err := c.api(ctx, "/api/v1/label/"+url.PathEscape(name)+"/values", labelParams(matchers, start, end, limit), &values)
	return values, w, err
}

func labelParams(matchers []*labels.Matcher, start, end, limit int64) url.Values {
	p := url.Values{}
	p.Set("start", formatMillis(start))
	p.Set("end", formatMillis(end))
	if limit > 0 {
		p.Set("limit", strconv.FormatInt(limit, 10))
	}
	if len(matchers) > 0 {
		sel := make([]string, len(matchers))
		for i, m := range matchers {
			sel[i] = m.String()
		}
		p.Set("match[]", "{"+strings.Join(sel, ",")+"}")
	}
	return p
}

// formatMillis renders a millisecond timestamp as Prometheus API seconds,
// clamped to years 1..9999: the Store API uses math.MinInt64/MaxInt64 for
// "unbounded", which Prometheus's time parser rejects.
func formatMillis(ms int64) string {
	const minMs, maxMs = -62135596800000, 253402300799000
	ms = max(minMs, min(maxMs, ms))
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// RemoteRead sends one streamed remote-read query and returns the body, a
// stream of ChunkedReadResponse frames. The caller closes it.
func (c *Client) RemoteRead(ctx context.Context, q *prompb.Query) (io.ReadCloser, error) {
	req := &prompb.ReadRequest{
		Queries:               []*prompb.Query{q},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS},
	}
	pb, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal read request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("/api/v1/read"), bytes.NewReader(snappy.Encode(nil, pb)))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := c.do(hreq)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-streamed-protobuf") {
		resp.Body.Close()
		return nil, fmt.Errorf("remote read: Prometheus answered %q, not a streamed response (it needs to be v2.13 or newer)", ct)
	}
	return resp.Body, nil
}
