package store_test

import (
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

// TestCodecKeepsDecodedLabels keeps the labels of every received series
// without copying them, as the querier's merge does, and checks them all
// once the whole stream has arrived on the same connection.
func TestCodecKeepsDecodedLabels(t *testing.T) {
	const n = 5000
	srv := grpc.NewServer()
	storepb.RegisterStoreServer(srv, &manySeries{n: n})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := storepb.NewStoreClient(conn)

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
