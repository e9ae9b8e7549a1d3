package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/tandem-metrics/tandem/pkg/store"
)

// wireBytes counts the payload bytes a gRPC client receives as they
// travelled: compressed when the call was.
type wireBytes struct{ n atomic.Int64 }

func (w *wireBytes) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *wireBytes) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w *wireBytes) HandleConn(context.Context, stats.ConnStats) {}
func (w *wireBytes) HandleRPC(_ context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.InPayload); ok {
		w.n.Add(int64(p.CompressedLength))
	}
}

// seriesCall is what one Series call returned.
type seriesCall struct {
	took      time.Duration
	series    int
	bytes     int64 // message bytes, uncompressed
	wireBytes int64 // as received
}

// readSidecar asks the sidecar at addr for every counter series in
// [from, to), as the query does, and drains the answer.
func readSidecar(ctx context.Context, addr, compression string, from, to time.Time) (seriesCall, error) {
	var wire wireBytes
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(&wire))
	if err != nil {
		return seriesCall{}, err
	}
	defer conn.Close()
	var opts []grpc.CallOption
	if compression == store.SnappyCompression {
		opts = append(opts, grpc.UseCompressor(compression))
	}
	req := &storepb.SeriesRequest{
		MinTime:           from.UnixMilli(),
		MaxTime:           to.UnixMilli() - 1,
		Matchers:          []storepb.LabelMatcher{{Type: storepb.LabelMatcher_EQ, Name: "__name__", Value: counterName}},
		ResponseBatchSize: 64,
	}
	start := time.Now()
	stream, err := storepb.NewStoreClient(conn).Series(ctx, req, opts...)
	if err != nil {
		return seriesCall{}, err
	}
	var call seriesCall
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return seriesCall{}, fmt.Errorf("series from %s: %w", addr, err)
		}
		call.bytes += int64(resp.Size())
		if s := resp.GetSeries(); s != nil {
			call.series++
		}
		if b := resp.GetBatch(); b != nil {
			call.series += len(b.Series)
		}
		if w := resp.GetWarning(); w != "" {
			return seriesCall{}, fmt.Errorf("series from %s: warning: %s", addr, w)
		}
	}
	call.took = time.Since(start)
	call.wireBytes = wire.n.Load()
	return call, nil
}
