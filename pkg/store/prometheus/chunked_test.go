package prometheus

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/prompb"
)

// decodedSeries is a series as both decoders see it, for comparing.
type decodedSeries struct {
	labels []prompb.Label
	chunks []prompb.Chunk
}

func decodeAll(frame []byte) ([]decodedSeries, error) {
	var d frameDecoder
	var out []decodedSeries
	err := d.decode(frame, func(s *chunkedSeries) error {
		out = append(out, decodedSeries{slices.Clone(s.Labels), slices.Clone(s.Chunks)})
		return nil
	})
	return out, err
}

func decodeGenerated(frame []byte) ([]decodedSeries, error) {
	var resp prompb.ChunkedReadResponse
	if err := resp.Unmarshal(frame); err != nil {
		return nil, err
	}
	var out []decodedSeries
	for _, s := range resp.ChunkedSeries {
		out = append(out, decodedSeries{s.Labels, s.Chunks})
	}
	return out, nil
}

func sameSeries(a, b []decodedSeries) bool {
	return slices.EqualFunc(a, b, func(x, y decodedSeries) bool {
		return slices.EqualFunc(x.labels, y.labels, func(l, m prompb.Label) bool {
			return l.Name == m.Name && l.Value == m.Value
		}) && slices.EqualFunc(x.chunks, y.chunks, func(c, d prompb.Chunk) bool {
			return c.MinTimeMs == d.MinTimeMs && c.MaxTimeMs == d.MaxTimeMs && c.Type == d.Type && bytes.Equal(c.Data, d.Data)
		})
	})
}

func marshal(tb testing.TB, resp *prompb.ChunkedReadResponse) []byte {
	tb.Helper()
	b, err := resp.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var sampleResponse = &prompb.ChunkedReadResponse{
	QueryIndex: 3,
	ChunkedSeries: []*prompb.ChunkedSeries{
		{
			Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}},
			Chunks: []prompb.Chunk{
				{MinTimeMs: -5, MaxTimeMs: 7_200_000, Type: prompb.Chunk_XOR, Data: []byte{0, 1, 2, 3}},
				{MinTimeMs: 7_200_001, MaxTimeMs: 1 << 50, Type: prompb.Chunk_FLOAT_HISTOGRAM, Data: []byte{9}},
			},
		},
		{Labels: []prompb.Label{{Name: "__name__", Value: ""}}},
		{Chunks: []prompb.Chunk{{Type: prompb.Chunk_HISTOGRAM}}},
	},
}

// TestFrameDecoderMatchesGenerated checks the decoder against the generated
// protobuf code on whole messages and on every prefix of one, which either
// both decode alike or both refuse.
func TestFrameDecoderMatchesGenerated(t *testing.T) {
	whole := marshal(t, sampleResponse)
	// Fields this decoder does not know come after the known ones, of
	// every wire type.
	unknown := append(slices.Clone(whole),
		0x98, 0x01, 0x05, // field 19, varint
		0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, // field 20, fixed64
		0xaa, 0x01, 2, 'h', 'i', // field 21, bytes
		0xb5, 0x01, 1, 2, 3, 4, // field 22, fixed32
	)
	for cut := 0; cut <= len(whole); cut++ {
		compareDecoders(t, whole[:cut])
	}
	compareDecoders(t, unknown)
	got, err := decodeAll(whole)
	if err != nil || len(got) != 3 || len(got[0].chunks) != 2 {
		t.Fatalf("decoded %d series (error %v), want 3", len(got), err)
	}
}

func compareDecoders(t *testing.T, frame []byte) {
	t.Helper()
	got, err := decodeAll(frame)
	want, wantErr := decodeGenerated(frame)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%d bytes: error %v, generated code: %v", len(frame), err, wantErr)
	}
	if err != nil && !errors.Is(err, errBadFrame) {
		t.Fatalf("%d bytes: error %v not marked as a bad frame", len(frame), err)
	}
	if err == nil && !sameSeries(got, want) {
		t.Fatalf("%d bytes: decoded %+v, generated code %+v", len(frame), got, want)
	}
}

func TestFrameDecoderPassesOnTheCallersError(t *testing.T) {
	stop := errors.New("client went away")
	var d frameDecoder
	calls := 0
	err := d.decode(marshal(t, sampleResponse), func(*chunkedSeries) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Fatalf("error %v after %d calls, want the caller's error after 1", err, calls)
	}
}

// FuzzFrameDecoder checks that whatever the decoder accepts, the generated
// code decodes alike.
func FuzzFrameDecoder(f *testing.F) {
	f.Add(marshal(f, sampleResponse))
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := decodeAll(frame)
		if err != nil {
			return
		}
		want, wantErr := decodeGenerated(frame)
		if wantErr != nil {
			t.Fatalf("decoded %d series; the generated code refuses it: %v", len(got), wantErr)
		}
		if !sameSeries(got, want) {
			t.Fatalf("decoded %+v, generated code %+v", got, want)
		}
	})
}
