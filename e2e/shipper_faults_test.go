package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
)

// TestSidecarKilledMidUpload kills the sidecar (SIGKILL) while it uploads
// the second of a Prometheus's blocks, its chunks sent and the write of
// its index hanging, and restarts it: the interrupted block has no
// meta.json meanwhile, so readers skip it; after the restart every block is
// in the bucket once, nothing already sent is sent again, and a store
// gateway on the bucket serves every sample.
func TestSidecarKilledMidUpload(t *testing.T) {
	for _, kind := range bucketKinds {
		t.Run(kind, func(t *testing.T) { testSidecarKilledMidUpload(t, kind) })
	}
}

func testSidecarKilledMidUpload(t *testing.T, kind string) {
	h := newHistory()
	prom := cuttingPrometheus(t, h, "a", h.family(nil))
	cut := localBlocks(t, prom.DataDir())
	b := newBucket(t, kind)
	first, stuck := cut[0].ULID.String(), cut[1].ULID.String()
	release := b.stall(t, stuck+"/index")

	sidecar := shippingSidecar(t, prom, b)
	chunks, err := os.Stat(filepath.Join(prom.DataDir(), stuck, "chunks", "000001"))
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 30*time.Second, "the first block and the second's chunks uploaded", func() error {
		blocks, err := readBlocks(t.Context(), b.client)
		if err != nil {
			return err
		}
		if got := blockIDs(blocks); !slices.Equal(got, []string{first}) {
			return fmt.Errorf("bucket holds %v, want %s", got, first)
		}
		if got := b.size(t, stuck+"/chunks/000001"); got != chunks.Size() {
			return fmt.Errorf("chunks of %s: %d bytes in the bucket, want %d", stuck, got, chunks.Size())
		}
		return nil
	})
	if err := syscall.Kill(sidecar.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the sidecar killed", func() error {
		if !sidecar.Exited() {
			return fmt.Errorf("still running")
		}
		return nil
	})
	if got := b.size(t, stuck+"/meta.json"); got != -1 {
		t.Fatalf("meta.json of the interrupted block: %d bytes, want none", got)
	}
	waitShipped(t, b, prom.DataDir(), cut[:1])

	release()
	rewritten := b.writes(t)
	sidecar.Start()
	waitShipped(t, b, prom.DataDir(), cut)
	sameFiles(t, prom.DataDir(), b, cut)
	want := []string{stuck + "/index", stuck + "/meta.json"}
	for _, m := range cut[2:] {
		id := m.ULID.String()
		want = append(want, id+"/chunks/000001", id+"/index", id+"/meta.json")
	}
	slices.Sort(want)
	if got := rewritten(); !slices.Equal(got, want) {
		t.Errorf("after the restart the sidecar wrote %v, want %v", got, want)
	}
	if got := metric(t, sidecar, "thanos_shipper_uploads_total"); got != float64(len(cut)-1) {
		t.Errorf("thanos_shipper_uploads_total = %v after the restart, want %d", got, len(cut)-1)
	}

	// The bucket alone answers with every sample of the blocks.
	store := e2etest.ThanosStore(t, b.config)
	q := e2etest.Query(t, []string{store.GRPC})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := h.blocksEnd().Add(-time.Millisecond)
	vec := e2etest.Vector(t, e2etest.API(ctx, t, "http://"+q.HTTP, "/api/v1/query", url.Values{
		"query": {"count_over_time(shipped_total[1h])"}, "time": {unixSeconds(end)},
	}))
	wantCount := fmt.Sprint(int(h.blocksEnd().Sub(h.start) / shipStep))
	if len(vec) != shipTargets {
		t.Fatalf("%d series from the bucket, want %d: %v", len(vec), shipTargets, vec)
	}
	for _, s := range vec {
		if s.Value[1] != wantCount {
			t.Errorf("%v samples in the bucket, want %s", s, wantCount)
		}
	}
}

// TestSidecarWithBrokenBucket gives the sidecar a bucket that fails every
// request: the sidecar goes on serving, says why in its log and its
// metrics, and uploads every block once the bucket is repaired.
func TestSidecarWithBrokenBucket(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		// breakBucket breaks b; why is what the log says of it.
		breakBucket func(t *testing.T, b *bucket) (why string, repair func())
	}{
		{"directory is a file", "FILESYSTEM", func(t *testing.T, b *bucket) (string, func()) {
			// This stops root too.
			if err := os.WriteFile(b.dir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return "not a directory", func() {
				if err := os.Remove(b.dir); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"S3 server down", "S3", func(t *testing.T, b *bucket) (string, func()) {
			b.s3.Stop()
			return "connection refused", b.s3.Restart
		}},
		{"S3 server slowing down", "S3", func(t *testing.T, b *bucket) (string, func()) {
			return "Please reduce your request rate.", b.s3.SlowDown()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory()
			prom := cuttingPrometheus(t, h, "a", h.family(nil))
			cut := localBlocks(t, prom.DataDir())
			b := newBucket(t, tc.kind)
			why, repair := tc.breakBucket(t, b)
			sidecar := shippingSidecar(t, prom, b)
			wait.Until(t, 30*time.Second, "failures counted", func() error {
				for _, m := range []struct {
					name string
					lvs  []string
				}{
					{"thanos_shipper_dir_sync_failures_total", nil},
					{"thanos_shipper_upload_failures_total", nil},
					{"thanos_objstore_bucket_operation_failures_total", []string{"operation", "get"}},
				} {
					if v, _ := sidecar.Metric(m.name, m.lvs...); v < 2 {
						return fmt.Errorf("%s%v = %v", m.name, m.lvs, v)
					}
				}
				return nil
			})
			if got := metric(t, sidecar, "thanos_shipper_uploads_total"); got != 0 {
				t.Errorf("thanos_shipper_uploads_total = %v", got)
			}
			log := sidecar.Log()
			if want := "upload block " + cut[0].ULID.String() + ": look for it in the bucket"; !strings.Contains(log, "Shipping blocks failed") || !strings.Contains(log, want) || !strings.Contains(log, why) {
				t.Errorf("the log does not say the upload of %s failed and why (%q, %q):\n%s", cut[0].ULID, want, why, log)
			}

			// Serving goes on.
			resp, err := http.Get("http://" + sidecar.HTTP + "/-/ready")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("/-/ready: %v %v", resp, err)
			}
			resp.Body.Close()
			q := e2etest.Query(t, []string{sidecar.GRPC})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			vec := e2etest.Vector(t, e2etest.API(ctx, t, "http://"+q.HTTP, "/api/v1/query", url.Values{
				"query": {"count_over_time(shipped_total[1h])"}, "time": {unixSeconds(h.end())},
			}))
			if len(vec) != shipTargets || vec[0].Value[1] != fmt.Sprint(shipSamples) {
				t.Errorf("query through the sidecar: %v, want %d series of %d samples", vec, shipTargets, shipSamples)
			}

			repair()
			waitShipped(t, b, prom.DataDir(), cut)
		})
	}
}

// TestSidecarChecksPrometheusBlockDurations runs the sidecar beside a
// Prometheus that compacts its blocks: it uploads nothing and says why,
// unless --shipper.ignore-unequal-block-size, as Thanos's sidecar.
func TestSidecarChecksPrometheusBlockDurations(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{
		ExternalLabels: map[string]string{"replica": "a"},
		Args:           []string{"--storage.tsdb.min-block-duration=2m", "--storage.tsdb.max-block-duration=6m"},
	})
	b := newBucket(t, "FILESYSTEM")
	sidecar := shippingSidecar(t, prom, b)
	const why = "Prometheus compacts its blocks (--storage.tsdb.min-block-duration=2m, --storage.tsdb.max-block-duration=6m)"
	wait.Until(t, 30*time.Second, "the sidecar refusing to upload", func() error {
		if v, _ := sidecar.Metric("thanos_shipper_dir_sync_failures_total"); v < 1 || !strings.Contains(sidecar.Log(), why) {
			return fmt.Errorf("%v failed passes; log:\n%s", v, sidecar.Log())
		}
		return nil
	})
	if v, _ := sidecar.Metric("thanos_shipper_dir_syncs_total"); v != 0 {
		t.Errorf("%v passes succeeded", v)
	}
	sidecar.Stop()

	sidecar = shippingSidecar(t, prom, b, "--shipper.ignore-unequal-block-size")
	wait.Until(t, 30*time.Second, "the sidecar uploading", func() error {
		if v, _ := sidecar.Metric("thanos_shipper_dir_syncs_total"); v < 1 {
			return fmt.Errorf("%v passes succeeded; log:\n%s", v, sidecar.Log())
		}
		return nil
	})
	if log := sidecar.Log(); !strings.Contains(log, why) || !strings.Contains(log, "--shipper.ignore-unequal-block-size") {
		t.Errorf("no warning about compaction in the log:\n%s", log)
	}
}

// TestSidecarStopsDuringStalledUpload sends SIGTERM while an upload hangs
// on a bucket write that does not heed cancellation: the sidecar exits
// cleanly all the same, and leaves the block without a meta.json.
func TestSidecarStopsDuringStalledUpload(t *testing.T) {
	h := newHistory()
	prom := cuttingPrometheus(t, h, "a", h.family(nil))
	first := localBlocks(t, prom.DataDir())[0].ULID.String()
	b := newBucket(t, "FILESYSTEM")
	b.stall(t, first+"/chunks/000001")
	sidecar := shippingSidecar(t, prom, b)
	wait.Until(t, 30*time.Second, "the upload to start", func() error {
		if !strings.Contains(sidecar.Log(), "Uploading block") {
			return fmt.Errorf("no upload in the log")
		}
		return nil
	})
	if err := syscall.Kill(sidecar.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sidecar.WaitExitOK(t, 10*time.Second)
	if blocks := b.blocks(t); len(blocks) != 0 {
		t.Errorf("bucket holds %v", blocks)
	}
}
