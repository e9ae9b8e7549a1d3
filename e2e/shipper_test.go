package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/wait"
)

// TestLongTermStorage ships replica a's blocks to a bucket (a directory,
// an S3-compatible server), lets its Prometheus drop all but the last 10
// minutes, and reads the pair through Tandem's query over both sidecars
// and Thanos's store gateway on the bucket. Replica b keeps everything but
// missed 9 minutes, which only the bucket still holds. Every answer equals
// the history as generated.
func TestLongTermStorage(t *testing.T) {
	for _, kind := range bucketKinds {
		t.Run(kind, func(t *testing.T) { testLongTermStorage(t, kind) })
	}
}

func testLongTermStorage(t *testing.T, kind string) {
	h := newHistory()
	gapFrom, gapTo := 20, 56 // samples replica b missed
	promA := cuttingPrometheus(t, h, "a", h.family(nil))
	promB := cuttingPrometheus(t, h, "b", h.family(func(j int) bool { return j >= gapFrom && j < gapTo }))
	cut := localBlocks(t, promA.DataDir())

	b := newBucket(t, kind)
	sidecarA := shippingSidecar(t, promA, b)
	sidecarB := e2etest.Sidecar(t, promB.URL())
	waitShipped(t, b, promA.DataDir(), cut)
	sameFiles(t, promA.DataDir(), b, cut)
	if got := metric(t, sidecarA, "thanos_shipper_uploads_total"); got != float64(len(cut)) {
		t.Errorf("thanos_shipper_uploads_total = %v, want %d", got, len(cut))
	}
	for _, m := range b.blocks(t) {
		if m.Thanos.Source != "sidecar" || m.Thanos.Labels["replica"] != "a" || m.Thanos.Labels["cluster"] != "eu" {
			t.Errorf("block %s: thanos section %+v", m, m.Thanos)
		}
	}
	if got := localBlocks(t, promA.DataDir()); len(got) != len(cut) {
		t.Fatalf("Prometheus's blocks %v after the upload, want %v", got, cut)
	}

	// Prometheus itself drops the blocks older than 10 minutes.
	promA.Restart("--web.enable-remote-write-receiver", "--storage.tsdb.min-block-duration=2m",
		"--storage.tsdb.max-block-duration=2m", "--storage.tsdb.retention.time=10m")
	kept := localBlocks(t, promA.DataDir())
	if len(kept) == 0 || kept[0].MinTime <= h.at(gapTo).UnixMilli() {
		t.Fatalf("Prometheus kept %v, want only blocks after the gap (%v)", kept, h.at(gapTo))
	}
	t.Logf("%d blocks uploaded; Prometheus a kept %d, from %v", len(cut), len(kept), time.UnixMilli(kept[0].MinTime).UTC())

	store := e2etest.ThanosStore(t, b.config)
	q := e2etest.Query(t, []string{sidecarA.GRPC, sidecarB.GRPC, store.GRPC}, "--query.replica-label=replica")
	base := "http://" + q.HTTP
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A sidecar that uploads announces what its Prometheus holds, as
	// Thanos's does; the store gateway announces the rest. The query
	// learns of Prometheus's retention at its next Info poll.
	wait.Until(t, 20*time.Second, "min times announced", func() error {
		minTimes := announcedMinTimes(ctx, t, base)
		for addr, want := range map[string]int64{sidecarA.GRPC: kept[0].MinTime, sidecarB.GRPC: h.start.UnixMilli(), store.GRPC: h.start.UnixMilli()} {
			if got, ok := minTimes[addr]; !ok || got != want {
				return fmt.Errorf("%s announces min time %v, want %v", addr, time.UnixMilli(got).UTC(), time.UnixMilli(want).UTC())
			}
		}
		return nil
	})

	t.Run("deduplicated samples", func(t *testing.T) {
		r := e2etest.API(ctx, t, base, "/api/v1/query_range", url.Values{
			"query": {"shipped_total"}, "dedup": {"true"},
			"start": {unixSeconds(h.start)}, "end": {unixSeconds(h.end())}, "step": {"15s"},
		})
		series := matrix(t, r)
		if len(series) != shipTargets {
			t.Fatalf("%d series, want %d", len(series), shipTargets)
		}
		for _, s := range series {
			var i int
			if _, err := fmt.Sscanf(s.Labels.Get("target"), "t%d", &i); err != nil || s.Labels.Has("replica") {
				t.Fatalf("unexpected series %s", s.Labels)
			}
			if len(s.Samples) != shipSamples {
				t.Errorf("%s: %d points, want %d", s.Labels, len(s.Samples), shipSamples)
			}
			for j, p := range s.Samples {
				if want := shipValue(i, j); p.T != h.at(j).UnixMilli() || p.V != want {
					t.Errorf("%s: point %d is %v at %v, want %v at %v", s.Labels, j, p.V, time.UnixMilli(p.T).UTC(), want, h.at(j))
					break
				}
			}
		}
	})
	for _, tc := range []struct {
		name  string
		query string
		at    time.Time
		dedup bool
		want  map[string]float64 // by target and replica, value of target 0
	}{
		// b has had nothing for over 5 minutes: only the bucket answers.
		{"in the gap", "shipped_total", h.at(gapTo - 8), false, map[string]float64{"a": shipValue(0, gapTo-8)}},
		{"samples of each replica", "count_over_time(shipped_total[30m])", h.end(), false,
			map[string]float64{"a": shipSamples, "b": shipSamples - float64(gapTo-gapFrom)}},
		// Replica a's recent blocks are in its Prometheus and in the
		// bucket: each sample counts once.
		{"samples deduplicated", "count_over_time(shipped_total[30m])", h.end(), true, map[string]float64{"": shipSamples}},
		{"increase", "increase(shipped_total[30m])", h.end(), true, map[string]float64{"": shipValue(0, shipSamples-1) - shipValue(0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vec := e2etest.Vector(t, e2etest.API(ctx, t, base, "/api/v1/query", url.Values{
				"query": {tc.query}, "time": {unixSeconds(tc.at)}, "dedup": {strconv.FormatBool(tc.dedup)},
			}))
			got := map[string]float64{}
			for _, s := range vec {
				v, err := strconv.ParseFloat(s.Value[1].(string), 64)
				if err != nil {
					t.Fatal(err)
				}
				if s.Metric["target"] == "t0" {
					got[s.Metric["replica"]] = v
				}
			}
			if len(vec) != len(tc.want)*shipTargets || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s at %v: %v, want %v for t0 (of %d series)", tc.query, tc.at, vec, tc.want, len(tc.want)*shipTargets)
			}
		})
	}
}

// unixSeconds formats t as the HTTP API takes it.
func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// announcedMinTimes reads a querier's /api/v1/stores: the min time each
// endpoint announces, by address.
func announcedMinTimes(ctx context.Context, t *testing.T, base string) map[string]int64 {
	t.Helper()
	r := e2etest.API(ctx, t, base, "/api/v1/stores", nil)
	var stores map[string][]struct {
		Name    string `json:"name"`
		MinTime int64  `json:"minTime"`
	}
	if err := json.Unmarshal(r.Data, &stores); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, group := range stores {
		for _, s := range group {
			out[s.Name] = s.MinTime
		}
	}
	return out
}
