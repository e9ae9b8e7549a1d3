package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/tracing/tracingtest"
)

// spanWant is a span a trace must hold, said by what it is.
type spanWant struct {
	what string
	ok   func(s tracingtest.Span, byID map[string]tracingtest.Span) bool
}

// TestTracing follows one request through the stack: the query exports over
// OTLP/HTTP, its sidecar over OTLP/gRPC and Prometheus over OTLP/gRPC, all
// to one receiver, and the query's answer must be one trace that crosses
// query -> sidecar, and on to Prometheus where the sidecar reads through
// remote read. The sidecar's span says where its answer came from: blocks,
// remote read, or Prometheus's series API for a series request.
func TestTracing(t *testing.T) {
	sidecarSeries := func(s tracingtest.Span) bool { return s.Service == "sidecar" && s.Name == "thanos.Store/Series" }
	promql := spanWant{"PromQL evaluation", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
		return s.Service == "tandem-query" && strings.HasPrefix(s.Name, "promql")
	}}
	withChunks := spanWant{"the query's Series call with chunks", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
		return s.Service == "tandem-query" && s.Name == "thanos.Store/Series" && s.Attributes["tandem.store.chunks"] != "0"
	}}
	at := strconv.FormatInt(base.Add(time.Hour).Unix(), 10)
	instant := url.Values{"query": {"sum(http_requests_total)"}, "time": {at}}
	for _, tc := range []struct {
		name   string
		flags  []string
		path   string
		params url.Values
		want   []spanWant
	}{
		{
			name:   "remote read",
			flags:  []string{"--no-tsdb.read-blocks"},
			path:   "/api/v1/query",
			params: instant,
			want: []spanWant{promql, withChunks,
				{"the sidecar's Series call, with no block read", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
					return sidecarSeries(s) && s.Attributes["tandem.sidecar.blocks"] == "0" && s.Attributes["tandem.sidecar.remote_read_from"] != ""
				}},
				{"the sidecar's remote read", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
					return s.Service == "sidecar" && s.Name == "POST /api/v1/read"
				}},
				{"Prometheus's span of the remote read", func(s tracingtest.Span, byID map[string]tracingtest.Span) bool {
					p, ok := byID[s.ParentID]
					return s.Service == "prometheus" && ok && p.Service == "sidecar"
				}},
			},
		},
		{
			name:   "blocks",
			path:   "/api/v1/query",
			params: instant,
			want: []spanWant{promql, withChunks,
				{"the sidecar's Series call, with the blocks it read", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
					n, _ := strconv.Atoi(s.Attributes["tandem.sidecar.blocks"])
					bytes, _ := strconv.Atoi(s.Attributes["tandem.sidecar.block_chunk_bytes"])
					return sidecarSeries(s) && n > 0 && bytes > 0
				}},
			},
		},
		{
			// The series API: no chunks, so the head's series come from
			// Prometheus's own series API.
			name:   "series",
			flags:  []string{"--no-tsdb.read-blocks"},
			path:   "/api/v1/series",
			params: url.Values{"match[]": {"http_requests_total"}, "start": {strconv.FormatInt(base.Unix(), 10)}, "end": {at}},
			want: []spanWant{
				{"the sidecar's Series call, from the series API", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
					return sidecarSeries(s) && s.Attributes["tandem.sidecar.series_api_from"] != "" && s.Attributes["tandem.sidecar.remote_read_from"] == ""
				}},
				{"the sidecar's call of the series API", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
					return s.Service == "sidecar" && strings.HasSuffix(s.Name, "/api/v1/series")
				}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := tracingtest.Start(t)
			dir := t.TempDir()
			promtest.CreateBlocks(t, dir, replicaData())
			prom := promtest.Start(t, promtest.Config{DataDir: dir,
				ExternalLabels: map[string]string{"cluster": "eu", "replica": "r0"},
				ExtraConfig:    fmt.Sprintf("tracing:\n  endpoint: %s\n  insecure: true\n  sampling_fraction: 1\n", rcv.GRPC)})

			// Thanos's format, as its manifests write it: the sidecar's
			// config inline, the query's from a file.
			sidecar := e2etest.Sidecar(t, prom.URL(), append(tc.flags, "--tracing.config=type: OTLP\nconfig:\n  client_type: grpc\n  insecure: true\n  endpoint: "+rcv.GRPC+"\n  service_name: sidecar\n")...)
			queryConfig := writeFile(t, "tracing.yaml", "type: otlp\nconfig:\n  client_type: http\n  insecure: true\n  endpoint: "+rcv.HTTP+"\n  sampler_type: alwayssample\n")
			q := e2etest.Query(t, []string{sidecar.GRPC}, "--tracing.config-file="+queryConfig, "--query.replica-label=replica")

			r := e2etest.API(context.Background(), t, "http://"+q.HTTP, tc.path, tc.params)
			if r.Status != "success" || len(r.Data) < 10 {
				t.Fatalf("%s answered %s %s", tc.path, r.Status, r.Data)
			}

			// Spans arrive in batches, every few seconds from each process.
			deadline := time.Now().Add(time.Minute)
			for {
				missing := checkTrace(rcv.Spans(), "GET "+tc.path, tc.want)
				if len(missing) == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no trace of the query with %s; received:\n%s", strings.Join(missing, ", "), describeSpans(rcv.Spans()))
				}
				time.Sleep(200 * time.Millisecond) // polling, not synchronisation
			}
		})
	}
}

// checkTrace looks for the trace of the query's request root and returns
// what it lacks of the spans every trace holds and of extra.
func checkTrace(spans []tracingtest.Span, root string, extra []spanWant) []string {
	var rootSpan *tracingtest.Span
	for i, s := range spans {
		if s.Service == "tandem-query" && s.Name == root {
			rootSpan = &spans[i]
		}
	}
	if rootSpan == nil {
		return []string{"the query's HTTP span"}
	}
	byID := map[string]tracingtest.Span{}
	for _, s := range spans {
		if s.TraceID == rootSpan.TraceID {
			byID[s.SpanID] = s
		}
	}
	want := append([]spanWant{
		{"the query's Series call with what it read", func(s tracingtest.Span, _ map[string]tracingtest.Span) bool {
			n, _ := strconv.Atoi(s.Attributes["tandem.store.series"])
			return s.Service == "tandem-query" && s.Name == "thanos.Store/Series" && n == targets && s.Attributes["server.address"] == "127.0.0.1"
		}},
		{"the sidecar's Series call, a child of the query's", func(s tracingtest.Span, byID map[string]tracingtest.Span) bool {
			p, ok := byID[s.ParentID]
			return s.Service == "sidecar" && s.Name == "thanos.Store/Series" && ok && p.Service == "tandem-query"
		}},
	}, extra...)
	var missing []string
	for _, w := range want {
		found := false
		for _, s := range byID {
			found = found || w.ok(s, byID)
		}
		if !found {
			missing = append(missing, w.what)
		}
	}
	return missing
}

func describeSpans(spans []tracingtest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s trace=%s span=%s parent=%s %v\n", s.Service, s.Name, s.TraceID, s.SpanID, s.ParentID, s.Attributes)
	}
	return b.String()
}

// writeFile writes content to name in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
