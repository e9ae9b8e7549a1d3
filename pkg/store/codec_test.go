package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	_ "github.com/tandem-metrics/tandem/pkg/store"
)

// manySeries streams n series whose labels differ in every message, so a
// reused receive buffer would overwrite earlier labels with later ones.
type manySeries struct {
	storepb.UnimplementedStoreServer
	n int
}

func seriesLabels(i int) labels.Labels {
	return labels.FromStrings("__name__", fmt.Sprintf("metric_%06d", i), "instance", fmt.Sprintf("host-%06d.example", i), "pad", fmt.Sprintf("%0200d", i))
}

func (m *manySeries) Series(_ *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	for i := range m.n {
		s := &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(seriesLabels(i))}
		if err := srv.Send(storepb.NewSeriesResponse(s)); err != nil {
			return err
		}
	}
	return nil
}

// serveStore serves store over loopback gRPC until the test ends and
// returns a client of it.
func serveStore(t *testing.T, store storepb.StoreServer) storepb.StoreClient {
	t.Helper()
	srv := grpc.NewServer()
	storepb.RegisterStoreServer(srv, store)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return storepb.NewStoreClient(conn)
}

// TestCodecKeepsDecodedLabels keeps the labels of every received series
// without copying them, as the querier's merge does, and checks them all
// once the whole stream has arrived on the same connection.
func TestCodecKeepsDecodedLabels(t *testing.T) {
	const n = 5000
	client := serveStore(t, &manySeries{n: n})

	var kept []labels.Labels
	for round := range 2 { // a second stream reuses the connection's buffers too
		stream, err := client.Series(t.Context(), &storepb.SeriesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			kept = append(kept, labelpb.ZLabelsToPromLabels(resp.GetSeries().Labels))
		}
	}
	if len(kept) != 2*n {
		t.Fatalf("received %d series, want %d", len(kept), 2*n)
	}
	for i, got := range kept {
		if want := seriesLabels(i % n); !labels.Equal(got, want) {
			t.Fatalf("series %d changed after later messages: %s, want %s", i, got, want)
		}
	}
}

// framedSeries streams frames of batched series whose chunk bytes say which
// stream, frame and series they belong to, each frame large enough to be
// encoded into a pooled buffer.
type framedSeries struct {
	storepb.UnimplementedStoreServer
	frames, perFrame int
}

// chunkData is the chunk of series i of frame f of the stream that asked
// with minTime stream.
func chunkData(stream int64, f, i int) []byte {
	b := make([]byte, 2048)
	for j := range b {
		b[j] = byte(int(stream)*31 + f*7 + i*3 + j)
	}
	return b
}

func (m *framedSeries) Series(r *storepb.SeriesRequest, srv storepb.Store_SeriesServer) error {
	for f := range m.frames {
		batch := make([]*storepb.Series, m.perFrame)
		for i := range batch {
			batch[i] = &storepb.Series{
				Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))),
				Chunks: []storepb.AggrChunk{{MinTime: int64(f), MaxTime: int64(i), Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: chunkData(r.MinTime, f, i)}}},
			}
		}
		if err := srv.Send(storepb.NewBatchResponse(batch)); err != nil {
			return err
		}
	}
	return nil
}

// TestCodecPooledFramesArriveIntact sends large frames on concurrent
// streams of one connection: the buffers they are encoded into go back to
// gRPC's pool once written, so one handed back too early would carry
// another stream's bytes by the time it is written.
func TestCodecPooledFramesArriveIntact(t *testing.T) {
	const streams, frames, perFrame = 8, 40, 16
	client := serveStore(t, &framedSeries{frames: frames, perFrame: perFrame})

	errs := make(chan error, streams)
	for s := range int64(streams) {
		go func() { errs <- readFrames(t.Context(), client, s, frames, perFrame) }()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// readFrames reads stream s of framedSeries and checks every chunk.
func readFrames(ctx context.Context, client storepb.StoreClient, s int64, frames, perFrame int) error {
	stream, err := client.Series(ctx, &storepb.SeriesRequest{MinTime: s})
	if err != nil {
		return err
	}
	got := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream %d: %w", s, err)
		}
		b := resp.GetBatch()
		if b == nil {
			return fmt.Errorf("stream %d: a response that is not a batch", s)
		}
		for _, series := range b.Series {
			c := series.Chunks[0]
			f, i := int(c.MinTime), int(c.MaxTime)
			if !bytes.Equal(c.Raw.Data, chunkData(s, f, i)) {
				return fmt.Errorf("stream %d, frame %d, series %d: chunk bytes are not the ones sent", s, f, i)
			}
			got++
		}
	}
	if got != frames*perFrame {
		return fmt.Errorf("stream %d: %d series, want %d", s, got, frames*perFrame)
	}
	return nil
}
