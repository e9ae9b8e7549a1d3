package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/oklog/ulid/v2"
	"github.com/thanos-io/objstore"
	objstoreclient "github.com/thanos-io/objstore/client"
	"github.com/thanos-io/objstore/providers/filesystem"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/s3test"
	"github.com/tandem-metrics/tandem/internal/wait"
)

// The long-term storage tests run Prometheus with 2-minute blocks
// (blockDuration, as its flags say), so that half an hour of history makes
// a dozen blocks in a second.
const (
	blockDuration = 2 * time.Minute
	shipStep      = 15 * time.Second
	shipSamples   = 120 // 30 minutes
	shipTargets   = 3
)

// history is the counter shipped_total of shipTargets targets scraped every
// shipStep from start, as both replicas of a pair scraped it.
type history struct{ start time.Time }

// newHistory begins 45 minutes ago, on a block boundary, and so ends 15
// minutes ago.
func newHistory() history {
	return history{start: time.Now().Add(-45 * time.Minute).Truncate(blockDuration)}
}

// at is the time of sample j.
func (h history) at(j int) time.Time { return h.start.Add(time.Duration(j) * shipStep) }

// end is the time of the last sample.
func (h history) end() time.Time { return h.at(shipSamples - 1) }

// shipValue is what target i read at sample j.
func shipValue(i, j int) float64 { return float64(i*1000 + j) }

// family is the history less the samples missed (nil: none).
func (h history) family(missed func(j int) bool) promtest.Family {
	f := promtest.Family{Name: "shipped", Type: "counter"}
	for i := range shipTargets {
		s := promtest.Series{Labels: map[string]string{"target": fmt.Sprintf("t%d", i)}}
		for j := range shipSamples {
			if missed == nil || !missed(j) {
				s.Samples = append(s.Samples, promtest.Sample{T: h.at(j).UnixMilli(), V: shipValue(i, j)})
			}
		}
		f.Series = append(f.Series, s)
	}
	return f
}

// blocksEnd is where the blocks Prometheus cuts from the history end: the
// head keeps the last 1.5 block durations.
func (h history) blocksEnd() time.Time {
	end := h.start
	for h.end().Sub(end) > blockDuration*3/2 {
		end = end.Add(blockDuration)
	}
	return end
}

// cuttingPrometheus starts a Prometheus with 2-minute blocks that are never
// compacted, as Thanos asks of a Prometheus whose sidecar uploads, writes
// fam into it and waits until it has cut its blocks.
func cuttingPrometheus(t *testing.T, h history, replica string, fam promtest.Family, args ...string) *promtest.Server {
	t.Helper()
	p := promtest.Start(t, promtest.Config{
		ExternalLabels: map[string]string{"cluster": "eu", "replica": replica},
		Args: append([]string{"--web.enable-remote-write-receiver",
			"--storage.tsdb.min-block-duration=2m", "--storage.tsdb.max-block-duration=2m"}, args...),
	})
	p.RemoteWrite(t, fam)
	wait.Until(t, 30*time.Second, "Prometheus cutting blocks", func() error {
		blocks := localBlocks(t, p.DataDir())
		if len(blocks) == 0 || blocks[len(blocks)-1].MaxTime != h.blocksEnd().UnixMilli() {
			return fmt.Errorf("blocks %v, want them to end at %v", blocks, h.blocksEnd())
		}
		return nil
	})
	return p
}

// blockMeta is what the tests read of a meta.json.
type blockMeta struct {
	ULID    ulid.ULID `json:"ulid"`
	MinTime int64     `json:"minTime"`
	MaxTime int64     `json:"maxTime"`
	Thanos  struct {
		Labels map[string]string `json:"labels"`
		Source string            `json:"source"`
	} `json:"thanos"`
}

func (m blockMeta) String() string {
	return fmt.Sprintf("%s[%s, %s)", m.ULID, time.UnixMilli(m.MinTime).UTC().Format(time.TimeOnly), time.UnixMilli(m.MaxTime).UTC().Format(time.TimeOnly))
}

// localBlocks reads the blocks of a TSDB directory, oldest first.
func localBlocks(t *testing.T, dir string) []blockMeta {
	t.Helper()
	bkt, err := filesystem.NewBucket(dir)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readBlocks(t.Context(), bkt)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// readBlocks reads the blocks of a bucket (or of a TSDB directory through
// a filesystem bucket) that have a meta.json, as a store gateway loads
// them, oldest first. A meta.json that does not read is an error: it may
// be one a filesystem bucket is still writing in place.
func readBlocks(ctx context.Context, bkt objstore.BucketReader) ([]blockMeta, error) {
	var out []blockMeta
	err := bkt.Iter(ctx, "", func(name string) error {
		id, err := ulid.Parse(strings.TrimSuffix(name, objstore.DirDelim))
		if err != nil {
			return nil
		}
		rc, err := bkt.Get(ctx, path.Join(id.String(), "meta.json"))
		if bkt.IsObjNotFoundErr(err) {
			return nil
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		var m blockMeta
		if err := json.NewDecoder(rc).Decode(&m); err != nil {
			return fmt.Errorf("block %s: %w", id, err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b blockMeta) int { return int(a.MinTime - b.MinTime) })
	return out, nil
}

// blockIDs are the blocks' ULIDs, sorted.
func blockIDs(blocks []blockMeta) []string {
	out := make([]string, 0, len(blocks))
	for _, b := range blocks {
		out = append(out, b.ULID.String())
	}
	slices.Sort(out)
	return out
}

// bucketKinds are the object stores the sidecar uploads to in the tests:
// a directory, and an S3-compatible server on loopback.
var bucketKinds = []string{"FILESYSTEM", "S3"}

// bucket is an object store of one of bucketKinds, the file that describes
// it in Thanos's format, and the test's own client of it, through which
// the test reads it as a store gateway does.
type bucket struct {
	config string // the config file
	client objstore.Bucket
	dir    string         // FILESYSTEM: the directory
	s3     *s3test.Server // S3: the server
}

func newBucket(t *testing.T, kind string) *bucket {
	t.Helper()
	root := t.TempDir()
	b := &bucket{config: filepath.Join(root, "objstore.yml")}
	var conf string
	switch kind {
	case "FILESYSTEM":
		b.dir = filepath.Join(root, "bucket")
		conf = fmt.Sprintf("type: FILESYSTEM\nconfig:\n  directory: %s\n", b.dir)
	case "S3":
		b.s3 = s3test.Start(t)
		conf = b.s3.Config()
	default:
		t.Fatalf("no bucket of kind %q", kind)
	}
	if err := os.WriteFile(b.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := objstoreclient.NewBucket(log.NewNopLogger(), []byte(conf), "e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	b.client = client
	return b
}

// blocks reads the blocks in the bucket, oldest first.
func (b *bucket) blocks(t *testing.T) []blockMeta {
	t.Helper()
	blocks, err := readBlocks(t.Context(), b.client)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// size is the size of an object, or -1 if the bucket has none of that name.
func (b *bucket) size(t *testing.T, name string) int64 {
	t.Helper()
	attrs, err := b.client.Attributes(t.Context(), name)
	if b.client.IsObjNotFoundErr(err) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return attrs.Size
}

// stall makes writes of the object hang until release: in a directory it
// is a named pipe nobody reads, on the S3 server a request it holds.
func (b *bucket) stall(t *testing.T, name string) (release func()) {
	t.Helper()
	if b.s3 != nil {
		return b.s3.Stall(name)
	}
	p := filepath.Join(b.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	return stallPipe(t, p)
}

// stallPipe makes p a named pipe whose buffer is full and which nobody reads,
// so that writing it waits, until release removes it.
func stallPipe(t *testing.T, p string) (release func()) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	// Opened for reading and writing, a pipe opens at once.
	fd, err := syscall.Open(p, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	for i := 0; ; i++ {
		if _, err := syscall.Write(fd, page); err == syscall.EAGAIN {
			break
		} else if err != nil || i > 1<<12 {
			t.Fatalf("filling the pipe: %v after %d pages", err, i)
		}
	}
	closed := false
	release = func() {
		if !closed {
			closed = true
			_ = syscall.Close(fd)
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

// writes returns a function that lists the objects written from now on,
// sorted: a directory tells by the files' modification times, the S3
// server by the writes it served.
func (b *bucket) writes(t *testing.T) (since func() []string) {
	t.Helper()
	if b.s3 != nil {
		before := len(b.s3.Written())
		return func() []string {
			out := b.s3.Written()[before:]
			slices.Sort(out)
			return out
		}
	}
	return age(t, b.dir)
}

// shippingSidecar runs a sidecar that uploads p's blocks to b.
func shippingSidecar(t *testing.T, p *promtest.Server, b *bucket, args ...string) *e2etest.Process {
	t.Helper()
	return e2etest.Sidecar(t, p.URL(), append([]string{"--tsdb.path=" + p.DataDir(), "--objstore.config-file=" + b.config}, args...)...)
}

// waitShipped waits until the bucket holds exactly the blocks want and the
// shipper's meta file in dataDir lists them all.
func waitShipped(t *testing.T, b *bucket, dataDir string, want []blockMeta) {
	t.Helper()
	wait.Until(t, 30*time.Second, "blocks uploaded", func() error {
		inBucket, err := readBlocks(t.Context(), b.client)
		if err != nil {
			return err
		}
		if got := blockIDs(inBucket); !slices.Equal(got, blockIDs(want)) {
			return fmt.Errorf("bucket holds %v, want %v", got, blockIDs(want))
		}
		raw, err := os.ReadFile(filepath.Join(dataDir, "thanos.shipper.json"))
		if err != nil {
			return err
		}
		var meta struct {
			Version  int      `json:"version"`
			Uploaded []string `json:"uploaded"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("meta file %s: %w", raw, err)
		}
		if slices.Sort(meta.Uploaded); meta.Version != 1 || !slices.Equal(meta.Uploaded, blockIDs(want)) {
			return fmt.Errorf("meta file %s, want version 1 and %v uploaded", raw, blockIDs(want))
		}
		return nil
	})
}

// metric reads a metric of p, failing the test if p does not expose it.
func metric(t *testing.T, p *e2etest.Process, name string, lvs ...string) float64 {
	t.Helper()
	v, ok := p.Metric(name, lvs...)
	if !ok {
		t.Fatalf("no metric %s%v", name, lvs)
	}
	return v
}

// longAgo is the modification time age gives files; a file written again
// has a later one.
var longAgo = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// age sets the modification time of every file under dir to longAgo and
// returns a function that lists the files written since, relative to dir.
func age(t *testing.T, dir string) (rewritten func() []string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files = append(files, p)
		return os.Chtimes(p, longAgo, longAgo)
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() []string {
		var out []string
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !info.ModTime().Equal(longAgo) {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
}

// sameFiles checks that every file of the local blocks, but meta.json and
// tombstones, is in the bucket with the same content.
func sameFiles(t *testing.T, dataDir string, b *bucket, blocks []blockMeta) {
	t.Helper()
	for _, m := range blocks {
		id := m.ULID.String()
		for _, rel := range []string{"index", "chunks/000001"} {
			want, err := os.ReadFile(filepath.Join(dataDir, id, rel))
			if err != nil {
				t.Fatal(err)
			}
			got, err := objectBytes(t.Context(), b.client, path.Join(id, rel))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%s differs in the bucket (%v)", id, rel, err)
			}
		}
	}
}

// objectBytes reads an object whole.
func objectBytes(ctx context.Context, bkt objstore.BucketReader, name string) ([]byte, error) {
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
