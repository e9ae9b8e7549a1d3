package s3test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/client"

	"github.com/tandem-metrics/tandem/internal/wait"
)

// TestServerThroughObjstore drives the server with Thanos's S3 client, as
// the sidecar and the store gateway use it: what is written reads back
// whole and by range, lists by directory, and a missing object is the
// client's not-found; a stopped, shedding or stalled server fails requests
// until it is back.
func TestServerThroughObjstore(t *testing.T) {
	s := Start(t)
	bkt, err := client.NewBucket(log.NewNopLogger(), []byte(s.Config()), "s3test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bkt.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	body := bytes.Repeat([]byte("0123456789"), 1000)
	for _, name := range []string{"b1/chunks/000001", "b1/index", "b2/meta.json"} {
		if err := bkt.Upload(ctx, name, bytes.NewReader(body)); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	if got := s.Written(); !slices.Equal(got, []string{"b1/chunks/000001", "b1/index", "b2/meta.json"}) {
		t.Errorf("written %v", got)
	}
	if got := read(ctx, t, bkt, "b1/index"); !bytes.Equal(got, body) {
		t.Errorf("b1/index reads back %d bytes, want %d", len(got), len(body))
	}
	rc, err := bkt.GetRange(ctx, "b1/index", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rc); string(got) != "01234" {
		t.Errorf("range of b1/index: %q", got)
	}
	rc.Close()
	if attrs, err := bkt.Attributes(ctx, "b1/chunks/000001"); err != nil || attrs.Size != int64(len(body)) {
		t.Errorf("attributes: %+v %v", attrs, err)
	}
	var dirs []string
	if err := bkt.Iter(ctx, "", func(name string) error { dirs = append(dirs, name); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dirs, []string{"b1/", "b2/"}) {
		t.Errorf("top level lists %v", dirs)
	}
	if _, err := bkt.Get(ctx, "b2/index"); !bkt.IsObjNotFoundErr(err) {
		t.Errorf("missing object: %v, want not found", err)
	}

	s.Stop()
	if _, err := bkt.Get(ctx, "b1/index"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("stopped server: %v", err)
	}
	s.Restart()
	end := s.SlowDown()
	if _, err := bkt.Get(ctx, "b1/index"); err == nil || !strings.Contains(err.Error(), "reduce your request rate") {
		t.Errorf("server shedding load: %v", err)
	}
	end()
	if got := read(ctx, t, bkt, "b1/index"); !bytes.Equal(got, body) {
		t.Errorf("after the outage b1/index reads back %d bytes, want %d", len(got), len(body))
	}

	release := s.Stall("b3/index")
	done := make(chan error, 1)
	go func() { done <- bkt.Upload(ctx, "b3/index", bytes.NewReader(body)) }()
	wait.Until(t, 10*time.Second, "the upload held", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held != 1 {
			return fmt.Errorf("%d writes held", s.held)
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("stalled upload returned: %v", err)
	default:
	}
	release()
	if err := <-done; err == nil {
		t.Error("stalled upload succeeded after release")
	}
	if exists, err := bkt.Exists(ctx, "b3/index"); err != nil || exists {
		t.Errorf("stalled object exists: %v %v", exists, err)
	}
	if err := bkt.Upload(ctx, "b3/index", bytes.NewReader(body)); err != nil {
		t.Errorf("upload after release: %v", err)
	}
}

func read(ctx context.Context, t *testing.T, bkt objstore.Bucket, name string) []byte {
	t.Helper()
	rc, err := bkt.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
