package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// chunksByName runs a Series call for a query of the given step and returns
// every chunk by metric name.
func chunksByName(ctx context.Context, t *testing.T, c storepb.StoreClient, mint, maxt, step int64) map[string][]storepb.AggrChunk {
	t.Helper()
	stream, err := c.Series(ctx, &storepb.SeriesRequest{MinTime: mint, MaxTime: maxt,
		Matchers:   []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}},
		QueryHints: &storepb.QueryHints{StepMillis: step}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]storepb.AggrChunk{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if s := resp.GetSeries(); s != nil {
			name := s.PromLabels().Get("__name__")
			out[name] = append(out[name], s.Chunks...)
		}
	}
}

// TestRemoteReadToTheEnd checks that a request ending near the newest
// sample (or within its query's step of it, where Grafana ends a range)
// gets the head's chunks as Prometheus stores them, not cut at the
// request's end (cutting one means re-encoding it), with no chunk that
// starts after the end; and that a request ending well before the newest
// sample is still cut, so that it reads no more than it asked for.
func TestRemoteReadToTheEnd(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external, Args: []string{"--web.enable-remote-write-receiver"}})
	// Ten minutes at 1 s: the head cuts a chunk every two minutes or so,
	// so its last chunk starts within openEndMargin of the newest sample.
	const n = 600
	var g, late promtest.Series
	for j := range n {
		s := promtest.Sample{T: base + int64(j)*1000, V: float64(j)}
		g.Samples = append(g.Samples, s)
		if j >= n-5 {
			late.Samples = append(late.Samples, s)
		}
	}
	prom.RemoteWrite(t, promtest.Family{Name: "g", Type: "gauge", Series: []promtest.Series{g}},
		promtest.Family{Name: "late", Type: "gauge", Series: []promtest.Series{late}})
	e := serveSidecar(t, prom.URL(), promstore.TargetOptions{MaxAge: 500 * time.Millisecond, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newest := g.Samples[n-1].T

	// check asks for [base, maxt] and checks that every sample in range
	// comes back, and whether the chunk holding maxt came cut at maxt or
	// whole (either, if empty).
	check := func(name string, maxt, step int64, want string) map[string][]storepb.AggrChunk {
		t.Helper()
		got := chunksByName(ctx, t, e.client, base, maxt, step)
		samples, err := decodeChunks(got["g"])
		if err != nil {
			t.Fatal(err)
		}
		if want := inRange(g.Samples, base, maxt); !slices.Equal(inRange(samples, base, maxt), want) {
			t.Fatalf("%s: %d samples of g in range, want %d", name, len(inRange(samples, base, maxt)), len(want))
		}
		if maxt < late.Samples[0].T && len(got["late"]) > 0 {
			t.Errorf("%s: series late, whose samples are all after the request's end, came back with %d chunks", name, len(got["late"]))
		}
		reach := int64(0)
		for _, c := range got["g"] {
			if c.MinTime > maxt {
				t.Errorf("%s: chunk [%d, %d] starts after the request's end %d", name, c.MinTime, c.MaxTime, maxt)
			}
			reach = max(reach, c.MaxTime)
		}
		switch {
		case want == "whole" && reach <= maxt:
			t.Errorf("%s: the chunks end at %d, the request's end: Prometheus cut the chunk that reaches past it", name, reach)
		case want == "cut" && reach > maxt:
			t.Errorf("%s: a chunk reaches %d ms past the request's end, so the request read more than it asked for", name, reach-maxt)
		}
		return got
	}

	// Before any answer the newest sample is taken to be now: this data
	// is far older.
	check("early, nothing seen yet", base+60_000, 0, "cut")
	full := check("all", newest, 0, "")
	chunks := full["g"]
	last := chunks[len(chunks)-1]
	if len(chunks) < 3 || newest-last.MinTime > (4*time.Minute).Milliseconds() || last.MaxTime != newest || last.MinTime >= late.Samples[0].T {
		t.Fatalf("the head's chunks of g are %v: the test needs a last chunk that ends at the newest sample and starts less than 4 minutes before it, and before series late", chunks)
	}
	check("inside the last chunk", last.MinTime+10_000, 0, "whole")
	check("just before the last chunk", last.MinTime-1, 0, "cut")
	check("early", base+60_000, 0, "cut")
	sixBefore := newest - (6 * time.Minute).Milliseconds() + 500
	check("6 minutes before", sixBefore, 0, "cut")
	check("6 minutes before, at a 10 minute step", sixBefore, (10 * time.Minute).Milliseconds(), "whole")
	check("6 minutes before, at a 1 minute step", sixBefore, time.Minute.Milliseconds(), "cut")
}

// TestRemoteReadFromInsideTheHead checks that a request starting inside a
// chunk of the head gets that chunk as Prometheus stores it, not cut at
// the request's start (cutting one means re-encoding it), and no chunk
// that ends before the start.
func TestRemoteReadFromInsideTheHead(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external, Args: []string{"--web.enable-remote-write-receiver"}})
	// Ten minutes at 1 s: the head cuts a chunk every two minutes or so.
	var g promtest.Series
	for j := range 600 {
		g.Samples = append(g.Samples, promtest.Sample{T: base + int64(j)*1000, V: float64(j)})
	}
	prom.RemoteWrite(t, promtest.Family{Name: "g", Type: "gauge", Series: []promtest.Series{g}})
	reg := promclient.NewRegistry()
	e := serveSidecarWith(t, prom.URL(), promstore.TargetOptions{MaxAge: 100 * time.Millisecond, Timeout: time.Minute}, nil, reg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newest := g.Samples[len(g.Samples)-1].T

	stored := chunksByName(ctx, t, e.client, base, newest, 0)["g"]
	if len(stored) < 3 || stored[0].MinTime != base {
		t.Fatalf("the head's chunks of g are %v: the test needs three or more, the first from the first sample", stored)
	}
	inside := stored[1]
	for _, tc := range []struct {
		name string
		mint int64
	}{
		{"inside the second chunk", inside.MinTime + 10_000},
		{"at the second chunk's last sample", inside.MaxTime},
		{"at the second chunk's start", inside.MinTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The sidecar learns the head's bound from Prometheus's
			// metrics, which lag its writes by a refresh.
			wait.Until(t, 10*time.Second, "the chunk holding the request's start to come whole", func() error {
				got := chunksByName(ctx, t, e.client, tc.mint, newest, 0)["g"]
				samples, err := decodeChunks(got)
				if err != nil {
					t.Fatal(err)
				}
				if want := inRange(g.Samples, tc.mint, newest); !slices.Equal(inRange(samples, tc.mint, newest), want) {
					t.Fatalf("%d samples of g in range, want %d", len(inRange(samples, tc.mint, newest)), len(want))
				}
				for _, c := range got {
					if c.MaxTime < tc.mint {
						t.Fatalf("chunk [%d, %d] ends before the request's start %d", c.MinTime, c.MaxTime, tc.mint)
					}
				}
				if first := got[0]; first.MinTime != inside.MinTime || first.MaxTime != inside.MaxTime || !slices.Equal(first.Raw.Data, inside.Raw.Data) {
					return fmt.Errorf("first chunk [%d, %d] of %d bytes, want the stored [%d, %d] of %d bytes: Prometheus cut it", first.MinTime, first.MaxTime, len(first.Raw.Data), inside.MinTime, inside.MaxTime, len(inside.Raw.Data))
				}
				return nil
			})
		})
	}
	// cutBySidecar checks that a read of [mint, maxt] inside the chunk
	// stored as [whole.MinTime, whole.MaxTime] gets exactly its samples, in
	// the one chunk Prometheus's own cut would have made, and that
	// Prometheus sent the chunk whole for the sidecar to cut.
	cutBySidecar := func(t *testing.T, mint, maxt int64, whole storepb.AggrChunk) {
		wait.Until(t, 10*time.Second, "the chunk holding the read to come whole and be cut to it", func() error {
			wholeBytes, _ := remoteReadBytes(ctx, t, e.client, reg, whole.MinTime, whole.MaxTime)
			read, got := remoteReadBytes(ctx, t, e.client, reg, mint, maxt)
			want := inRange(g.Samples, mint, maxt)
			samples, err := decodeChunks(got)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(samples, want) {
				return fmt.Errorf("%d samples, want only the %d from %d to %d", len(samples), len(want), mint, maxt)
			}
			cut := xorChunk(t, want)
			if len(got) != 1 || got[0].MinTime != want[0].T || got[0].MaxTime != want[len(want)-1].T || !slices.Equal(got[0].Raw.Data, cut) {
				t.Fatalf("chunks %v, want one [%d, %d] of %d bytes as Prometheus cuts it", got, want[0].T, want[len(want)-1].T, len(cut))
			}
			if read != wholeBytes {
				return fmt.Errorf("remote read sent %.0f bytes, where the chunk whole takes %.0f: Prometheus cut it", read, wholeBytes)
			}
			return nil
		})
	}
	// Ten seconds from inside the second chunk: whole, the chunk would
	// bring more than twice as many samples before the read as the read
	// asks for, and it reaches past the read's end, well before the newest
	// sample, so the sidecar cuts it at both ends.
	t.Run("a short read", func(t *testing.T) {
		cutBySidecar(t, inside.MinTime+30_000, inside.MinTime+40_000, inside)
	})
	// Ten seconds up to the newest sample: the read is asked to the end,
	// so the open chunk is cut at the start only.
	t.Run("a short read to the newest sample", func(t *testing.T) {
		cutBySidecar(t, newest-10_000, newest, stored[len(stored)-1])
	})
}

// remoteReadBytes reads g's chunks in [mint, maxt] and returns them with
// how many bytes of remote-read frames the sidecar got for them.
func remoteReadBytes(ctx context.Context, t *testing.T, c storepb.StoreClient, reg *promclient.Registry, mint, maxt int64) (float64, []storepb.AggrChunk) {
	t.Helper()
	before := counterValue(t, reg, "tandem_sidecar_remote_read_bytes_total")
	got := chunksByName(ctx, t, c, mint, maxt, 0)["g"]
	return counterValue(t, reg, "tandem_sidecar_remote_read_bytes_total") - before, got
}

// xorChunk encodes samples into one XOR chunk, one by one, as Prometheus
// re-encodes the samples it keeps of a chunk it cuts.
func xorChunk(t *testing.T, samples []promtest.Sample) []byte {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		app.Append(s.T, s.V)
	}
	return c.Bytes()
}
