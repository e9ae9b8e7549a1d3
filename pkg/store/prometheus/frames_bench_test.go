package prometheus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// remoteReadStream is a streamed remote-read answer as Prometheus writes
// it: frames of about 1 MiB, each a ChunkedReadResponse of whole series with
// one two-hour XOR chunk each.
func remoteReadStream(b *testing.B, nSeries int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var (
		stream bytes.Buffer
		resp   prompb.ChunkedReadResponse
	)
	flush := func() {
		data, err := resp.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		stream.Write(frame(data))
		resp.ChunkedSeries = nil
	}
	for i := range nSeries {
		chk := chunkenc.NewXORChunk()
		app, err := chk.Appender()
		if err != nil {
			b.Fatal(err)
		}
		v := 0.0
		for j := range 480 {
			v += float64(rng.IntN(100))
			app.Append(int64(j)*15_000+int64(rng.IntN(20)), v)
		}
		resp.ChunkedSeries = append(resp.ChunkedSeries, &prompb.ChunkedSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "http_requests_total"},
				{Name: "code", Value: "200"},
				{Name: "instance", Value: fmt.Sprintf("host-%05d:9100", i)},
				{Name: "job", Value: "node"},
			},
			Chunks: []prompb.Chunk{{MinTimeMs: 0, MaxTimeMs: 479 * 15_000, Type: prompb.Chunk_XOR, Data: chk.Bytes()}},
		})
		if resp.Size() >= 1<<20 {
			flush()
		}
	}
	if len(resp.ChunkedSeries) > 0 {
		flush()
	}
	return stream.Bytes()
}

// BenchmarkRemoteReadDecode measures what the sidecar pays to read
// Prometheus's answer before it relays it: frame checks and protobuf
// decoding, with the decoder the sidecar uses and with the generated code.
func BenchmarkRemoteReadDecode(b *testing.B) {
	const nSeries = 10_000
	stream := remoteReadStream(b, nSeries)
	for _, bc := range []struct {
		name   string
		decode func(frame []byte) (int, error)
	}{
		{"frameDecoder", func(frame []byte) (int, error) {
			var d frameDecoder
			n := 0
			err := d.decode(frame, func(*chunkedSeries) error { n++; return nil })
			return n, err
		}},
		{"generated", func(frame []byte) (int, error) {
			var resp prompb.ChunkedReadResponse
			err := resp.Unmarshal(frame)
			return len(resp.ChunkedSeries), err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				frames := NewFrameReader(bytes.NewReader(stream), DefaultMaxFrameSize)
				n := 0
				for {
					data, err := frames.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					m, err := bc.decode(data)
					if err != nil {
						b.Fatal(err)
					}
					n += m
				}
				if n != nSeries {
					b.Fatalf("decoded %d series, want %d", n, nSeries)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nSeries), "ns/series")
		})
	}
}
