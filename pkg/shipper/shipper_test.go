package shipper

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	gokitlog "github.com/go-kit/log"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/thanos-io/thanos/pkg/block/metadata"
)

// TestSyncUploadsEachBlockOnce ships two blocks and checks what Thanos's
// readers see in the bucket, that nothing in Prometheus's blocks changed,
// and that neither a second pass nor a restart, with or without the meta
// file, uploads anything again.
func TestSyncUploadsEachBlockOnce(t *testing.T) {
	opts := Options{HashFunc: HashSHA256}
	f := newFixture(t, opts)
	b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	b2 := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
	local := tree(t, f.tsdb)

	f.sync(t, 2)
	if got, want := blocksIn(t, f.bucket), ids(b1, b2); !slices.Equal(got, want) {
		t.Fatalf("bucket holds blocks %v, want %v", got, want)
	}
	bucket := tree(t, f.bucket)
	for _, id := range []ulid.ULID{b1, b2} {
		checkUploaded(t, f, id, local, bucket)
	}
	// The TSDB directory gained the meta file and nothing else changed.
	for rel, after := range tree(t, f.tsdb) {
		if before, ok := local[rel]; ok && before != after {
			t.Errorf("%s changed in the TSDB directory", rel)
		} else if !ok && rel != DefaultMetaFileName {
			t.Errorf("%s appeared in the TSDB directory", rel)
		}
	}
	checkMetaFile(t, f, b1, b2)
	for name, want := range map[string]float64{
		"thanos_shipper_uploads_total":           2,
		"thanos_shipper_dir_syncs_total":         1,
		"thanos_shipper_dir_sync_failures_total": 0,
		"thanos_shipper_upload_failures_total":   0,
	} {
		if got := f.metric(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// chunks/000001, index and meta.json of each block.
	if got := f.metric(t, "thanos_objstore_bucket_operations_total", "operation", "upload"); got != 6 {
		t.Errorf("%v uploads counted by the bucket, want 6", got)
	}

	age(t, f.bucket)
	f.sync(t, 0)
	f.open(t, opts) // a restart
	f.sync(t, 0)
	if err := os.Remove(f.shipper.MetaFile()); err != nil {
		t.Fatal(err)
	}
	f.open(t, opts)
	f.sync(t, 0)
	if got := rewritten(t, f.bucket); len(got) > 0 {
		t.Errorf("uploaded again: %v", got)
	}
	checkMetaFile(t, f, b1, b2)

	b3 := writeBlock(t, f.tsdb, 2*blockRange, 3*blockRange, testSeries()...)
	f.sync(t, 1)
	if got, want := blocksIn(t, f.bucket), ids(b1, b2, b3); !slices.Equal(got, want) {
		t.Fatalf("bucket holds blocks %v, want %v", got, want)
	}
	checkMetaFile(t, f, b1, b2, b3)
}

// checkUploaded compares block id in the bucket with the local one, reading
// its meta.json with Thanos's own reader.
func checkUploaded(t *testing.T, f *fixture, id ulid.ULID, local, bucket map[string]file) {
	t.Helper()
	var files []string
	for rel, lf := range local {
		name, ok := strings.CutPrefix(rel, id.String()+"/")
		if !ok || name == metaFilename || name == "tombstones" {
			continue
		}
		files = append(files, name)
		if bucket[rel].content != lf.content {
			t.Errorf("%s differs in the bucket", rel)
		}
	}
	slices.Sort(files)
	if want := []string{"chunks/000001", "index"}; !slices.Equal(files, want) {
		t.Fatalf("block files %v, want %v", files, want)
	}
	m, err := metadata.ReadFromDir(filepath.Join(f.bucket, id.String()))
	if err != nil {
		t.Fatalf("Thanos cannot read the uploaded meta.json: %v", err)
	}
	lm, err := tsdbMeta(filepath.Join(f.tsdb, id.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.BlockMeta, lm) {
		t.Errorf("block meta %+v, want Prometheus's %+v", m.BlockMeta, lm)
	}
	if !reflect.DeepEqual(m.Thanos.Labels, external.Map()) || m.Thanos.Source != metadata.SidecarSource || m.Thanos.Downsample.Resolution != 0 {
		t.Errorf("thanos section %+v, want labels %v, source sidecar, resolution 0", m.Thanos, external)
	}
	if !slices.Equal(m.Thanos.SegmentFiles, []string{"000001"}) {
		t.Errorf("segment files %v, want [000001]", m.Thanos.SegmentFiles)
	}
	if m.Thanos.UploadTime.IsZero() {
		t.Error("no upload time")
	}
	var rels []string
	for _, mf := range m.Thanos.Files {
		rels = append(rels, mf.RelPath)
		if mf.RelPath == metaFilename {
			if mf.SizeBytes != 0 || mf.Hash != nil {
				t.Errorf("meta.json listed with size or hash: %+v", mf)
			}
			continue
		}
		p := filepath.Join(f.tsdb, id.String(), mf.RelPath)
		if st, err := os.Stat(p); err != nil || st.Size() != mf.SizeBytes {
			t.Errorf("%s: size %d in meta.json, file: %v %v", mf.RelPath, mf.SizeBytes, st, err)
		}
		h, err := metadata.CalculateHash(p, metadata.SHA256Func, gokitlog.NewNopLogger())
		if err != nil || mf.Hash == nil || !mf.Hash.Equal(&h) {
			t.Errorf("%s: hash %+v in meta.json, want %+v (%v)", mf.RelPath, mf.Hash, h, err)
		}
	}
	if want := []string{"chunks/000001", "index", "meta.json"}; !slices.Equal(rels, want) {
		t.Errorf("files %v in meta.json, want %v", rels, want)
	}
}

// tsdbMeta reads a local block's meta.json as Prometheus wrote it.
func tsdbMeta(dir string) (tsdb.BlockMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFilename))
	if err != nil {
		return tsdb.BlockMeta{}, err
	}
	var m tsdb.BlockMeta
	return m, json.Unmarshal(b, &m)
}

// checkMetaFile reads the shipper's meta file as Thanos's shipper and
// Prometheus's --storage.tsdb.delay-compact-file.path read it.
func checkMetaFile(t *testing.T, f *fixture, want ...ulid.ULID) {
	t.Helper()
	b, err := os.ReadFile(f.shipper.MetaFile())
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version  int      `json:"version"`
		Uploaded []string `json:"uploaded"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("meta file %s: %v", b, err)
	}
	if m.Version != 1 || !slices.Equal(m.Uploaded, ids(want...)) {
		t.Errorf("meta file %s, want version 1 and uploaded %v", b, ids(want...))
	}
}

// TestSyncCompletesInterruptedUpload leaves the bucket as a crash at each
// point of an upload would, and checks that the next start completes the
// block, sending again only what is missing or cut short.
func TestSyncCompletesInterruptedUpload(t *testing.T) {
	for _, tc := range []struct {
		name      string
		crash     func(t *testing.T, bucket, id string) // what the crash left
		uploads   int
		rewritten []string // files of the block written again
	}{
		{"after the chunks", func(t *testing.T, bucket, id string) {
			remove(t, filepath.Join(bucket, id, metaFilename))
			remove(t, filepath.Join(bucket, id, indexFilename))
		}, 1, []string{"index", "meta.json"}},
		{"while writing the index", func(t *testing.T, bucket, id string) {
			remove(t, filepath.Join(bucket, id, metaFilename))
			truncate(t, filepath.Join(bucket, id, indexFilename))
		}, 1, []string{"index", "meta.json"}},
		{"while writing the chunks", func(t *testing.T, bucket, id string) {
			remove(t, filepath.Join(bucket, id, metaFilename))
			remove(t, filepath.Join(bucket, id, indexFilename))
			truncate(t, filepath.Join(bucket, id, "chunks", "000001"))
		}, 1, []string{"chunks/000001", "index", "meta.json"}},
		{"while writing meta.json", func(t *testing.T, bucket, id string) {
			truncate(t, filepath.Join(bucket, id, metaFilename))
		}, 1, []string{"meta.json"}},
		{"before the meta file", func(t *testing.T, bucket, id string) {}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			id := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
			f.sync(t, 1)
			want := tree(t, f.bucket)
			tc.crash(t, f.bucket, id.String())
			remove(t, f.shipper.MetaFile())
			age(t, f.bucket)

			f.open(t, Options{})
			f.sync(t, tc.uploads)
			var got []string
			for _, rel := range rewritten(t, f.bucket) {
				got = append(got, strings.TrimPrefix(rel, id.String()+"/"))
			}
			if !slices.Equal(got, tc.rewritten) {
				t.Errorf("wrote %v again, want %v", got, tc.rewritten)
			}
			for rel, w := range want {
				if g := tree(t, f.bucket)[rel]; g.content != w.content && rel != id.String()+"/"+metaFilename {
					t.Errorf("%s differs from the first upload", rel)
				}
			}
			if _, err := metadata.ReadFromDir(filepath.Join(f.bucket, id.String())); err != nil {
				t.Errorf("meta.json after the restart: %v", err)
			}
			checkMetaFile(t, f, id)
		})
	}
}

func remove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// truncate cuts a file to half its size.
func truncate(t *testing.T, p string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestSyncBrokenBucket makes the bucket unwritable (its directory is a
// file, which stops root too) and checks that the failure is counted where
// Thanos counts it, that blocks wait in order, and that they are uploaded
// once the bucket is back.
func TestSyncBrokenBucket(t *testing.T) {
	f := newFixture(t, Options{})
	b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	b2 := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
	if err := os.WriteFile(f.bucket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n, err := f.shipper.Sync(context.Background())
		if err == nil || n != 0 || !strings.Contains(err.Error(), "upload block "+b1.String()+": look for it in the bucket") || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("Sync = %d, %v; want an error naming block %s and the cause", n, err, b1)
		}
	}
	for _, m := range []struct {
		name string
		lvs  []string
		want float64
	}{
		{"thanos_shipper_dir_sync_failures_total", nil, 2},
		{"thanos_shipper_dir_syncs_total", nil, 0},
		{"thanos_shipper_upload_failures_total", nil, 2},
		{"thanos_shipper_uploads_total", nil, 0},
		// Looking for the oldest block fails each time; the newer waits.
		{"thanos_objstore_bucket_operation_failures_total", []string{"operation", "get"}, 2},
		{"thanos_objstore_bucket_operations_total", []string{"operation", "get"}, 2},
		{"thanos_objstore_bucket_operations_total", []string{"operation", "upload"}, 0},
	} {
		if got := f.metric(t, m.name, m.lvs...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.lvs, got, m.want)
		}
	}
	checkMetaFile(t, f)

	remove(t, f.bucket)
	f.sync(t, 2)
	if got, want := blocksIn(t, f.bucket), ids(b1, b2); !slices.Equal(got, want) {
		t.Fatalf("bucket holds blocks %v, want %v", got, want)
	}
}

// TestSyncOutOfOrder fails the oldest block's upload only: blocks wait in
// order, unless out-of-order uploads are allowed.
func TestSyncOutOfOrder(t *testing.T) {
	for _, allow := range []bool{false, true} {
		f := newFixture(t, Options{AllowOutOfOrder: allow})
		b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
		b2 := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
		if err := os.MkdirAll(f.bucket, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.bucket, b1.String()), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		n, err := f.shipper.Sync(context.Background())
		want := []string{}
		if allow {
			want = ids(b2)
		}
		if err == nil || n != len(want) {
			t.Errorf("allow=%v: Sync = %d, %v; want an error after %d uploads", allow, n, err, len(want))
		}
		if got := blocksIn(t, f.bucket); !slices.Equal(append([]string{}, got...), want) {
			t.Errorf("allow=%v: bucket holds %v, want %v", allow, got, want)
		}
		remove(t, filepath.Join(f.bucket, b1.String()))
		f.sync(t, 2-len(want))
		if got := blocksIn(t, f.bucket); !slices.Equal(got, ids(b1, b2)) {
			t.Errorf("allow=%v: bucket holds %v after the repair, want both", allow, got)
		}
	}
}

// TestSyncCompactedBlocks checks that compacted blocks are shipped only
// with UploadCompacted, and not over a block of the same replica in the
// bucket.
func TestSyncCompactedBlocks(t *testing.T) {
	f := newFixture(t, Options{})
	c := compact(t, f.tsdb,
		writeBlock(t, f.tsdb, 0, blockRange, testSeries()...),
		writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...))
	b3 := writeBlock(t, f.tsdb, 2*blockRange, 3*blockRange, testSeries()...)
	f.sync(t, 1)
	if got := blocksIn(t, f.bucket); !slices.Equal(got, ids(b3)) {
		t.Fatalf("bucket holds %v, want only the level-1 block %s", got, b3)
	}
	if got := f.metric(t, "thanos_shipper_upload_compacted_done"); got != 0 {
		t.Errorf("upload_compacted_done = %v without UploadCompacted", got)
	}
	f.open(t, Options{UploadCompacted: true})
	f.sync(t, 1)
	if got := blocksIn(t, f.bucket); !slices.Equal(got, ids(c, b3)) {
		t.Fatalf("bucket holds %v, want %v", got, ids(c, b3))
	}
	if got := f.metric(t, "thanos_shipper_upload_compacted_done"); got != 1 {
		t.Errorf("upload_compacted_done = %v, want 1", got)
	}

	for _, tc := range []struct {
		name     string
		bucketed labels.Labels // labels of the block already in the bucket
		wantErr  bool
	}{
		{"same replica", external, true},
		{"other replica", labels.FromStrings("cluster", "eu", "replica", "b"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{Labels: func(context.Context) (labels.Labels, error) { return tc.bucketed, nil }})
			old := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
			f.sync(t, 1)
			remove(t, f.shipper.MetaFile())
			if err := os.RemoveAll(filepath.Join(f.tsdb, old.String())); err != nil {
				t.Fatal(err)
			}
			c := compact(t, f.tsdb,
				writeBlock(t, f.tsdb, 0, blockRange, testSeries()...),
				writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...))
			f.open(t, Options{UploadCompacted: true})
			n, err := f.shipper.Sync(context.Background())
			if tc.wantErr != (err != nil) || n != map[bool]int{true: 0, false: 1}[tc.wantErr] {
				t.Fatalf("Sync = %d, %v; want error %v", n, err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(err.Error(), "upload block "+c.String()+": compacted, it overlaps") {
				t.Errorf("error %v does not say which block overlaps", err)
			}
		})
	}
}

// TestSyncCorruptedBlock checks that an unreadable block stops the pass,
// unless SkipCorrupted, and is counted.
func TestSyncCorruptedBlock(t *testing.T) {
	for _, skip := range []bool{false, true} {
		f := newFixture(t, Options{SkipCorrupted: skip})
		b1 := writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
		b2 := writeBlock(t, f.tsdb, blockRange, 2*blockRange, testSeries()...)
		if err := os.WriteFile(filepath.Join(f.tsdb, b1.String(), metaFilename), []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
		n, err := f.shipper.Sync(context.Background())
		if err == nil || (!skip && !strings.Contains(err.Error(), b1.String())) {
			t.Errorf("skip=%v: error %v, want one naming block %s", skip, err, b1)
		}
		want := map[bool][]string{false: nil, true: ids(b2)}[skip]
		if got := blocksIn(t, f.bucket); n != len(want) || !slices.Equal(got, want) {
			t.Errorf("skip=%v: uploaded %d, bucket holds %v; want %v", skip, n, got, want)
		}
		if got := f.metric(t, "thanos_shipper_corrupted_blocks_total"); got != 1 {
			t.Errorf("skip=%v: corrupted_blocks_total = %v, want 1", skip, got)
		}
	}
}

// TestSyncNeedsExternalLabels: a block is never uploaded without them.
func TestSyncNeedsExternalLabels(t *testing.T) {
	f := newFixture(t, Options{Labels: func(context.Context) (labels.Labels, error) { return labels.EmptyLabels(), nil }})
	writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	if n, err := f.shipper.Sync(context.Background()); err == nil || n != 0 || !strings.Contains(err.Error(), "without external labels: none are configured") {
		t.Fatalf("Sync = %d, %v; want an error about external labels", n, err)
	}
	if got := blocksIn(t, f.bucket); len(got) != 0 {
		t.Errorf("bucket holds %v", got)
	}
}

// TestUploadOfDeletedBlock: a block Prometheus deleted between the listing
// and the upload is reported as gone, not as a failing upload, and leaves
// nothing in the bucket.
func TestUploadOfDeletedBlock(t *testing.T) {
	f := newFixture(t, Options{})
	writeBlock(t, f.tsdb, 0, blockRange, testSeries()...)
	blocks, _, err := localBlocks(f.tsdb)
	if err != nil || len(blocks) != 1 {
		t.Fatal(blocks, err)
	}
	if err := os.RemoveAll(blocks[0].dir); err != nil {
		t.Fatal(err)
	}
	if err := f.shipper.upload(context.Background(), blocks[0], external); !errors.Is(err, errBlockGone) {
		t.Fatalf("upload of a deleted block: %v, want errBlockGone", err)
	}
	if got := tree(t, f.bucket); len(got) != 0 {
		t.Errorf("bucket holds %v", got)
	}
}
