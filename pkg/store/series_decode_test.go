package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/gogo/protobuf/types"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Writers of handmade messages: a field of each kind, and fields one after
// another.
func field(num int, value []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, protowire.Number(num), protowire.BytesType), value)
}

func varint(num int, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, protowire.Number(num), protowire.VarintType), v)
}

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func label(name, value string) []byte {
	return cat(field(1, []byte(name)), field(2, []byte(value)))
}

// sampleSeries are series with every field of Series, AggrChunk and Chunk.
func sampleSeries() []*storepb.Series {
	chunk := func(typ storepb.Chunk_Encoding, data string, hash uint64) *storepb.Chunk {
		return &storepb.Chunk{Type: typ, Data: []byte(data), Hash: hash}
	}
	return []*storepb.Series{
		{
			Labels: labelpb.ZLabelsFromPromLabels(labelsOf("__name__", "up", "instance", "a:9100", "replica", "r1")),
			Chunks: []storepb.AggrChunk{
				{MinTime: -5, MaxTime: 7_200_000, Raw: chunk(storepb.Chunk_XOR, "\x00\x01\x02", 0)},
				{MinTime: 7_200_001, MaxTime: 1 << 50, Raw: chunk(storepb.Chunk_FLOAT_HISTOGRAM, "xyz", 1<<63)},
			},
		},
		{Labels: labelpb.ZLabelsFromPromLabels(labelsOf("__name__", ""))},
		{Chunks: []storepb.AggrChunk{{
			Count: chunk(storepb.Chunk_XOR, "c", 1), Sum: chunk(storepb.Chunk_XOR, "s", 2), Min: chunk(storepb.Chunk_HISTOGRAM, "mi", 3),
			Max: chunk(storepb.Chunk_XOR, "ma", 4), Counter: chunk(storepb.Chunk_XOR, "co", 5), Raw: chunk(storepb.Chunk_XOR, "", 6),
		}}},
	}
}

func mustMarshal(tb testing.TB, resp *storepb.SeriesResponse) []byte {
	tb.Helper()
	b, err := resp.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeBoth decodes msg with the decoder and with gogo's generated one and
// fails if they differ: in their result, or in one refusing what the other
// takes.
func decodeBoth(t *testing.T, msg []byte) (*storepb.SeriesResponse, error) {
	t.Helper()
	var got, want storepb.SeriesResponse
	err := unmarshalSeriesResponse(msg, &got)
	wantErr := want.Unmarshal(msg)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("% x: error %v, gogo's %v", msg, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(&got, &want) {
		t.Fatalf("% x: decoded %v, gogo %v", msg, &got, &want)
	}
	return &got, err
}

func TestUnmarshalSeriesResponse(t *testing.T) {
	chunk := cat(varint(1, 2), field(2, []byte{1, 2, 3}), varint(3, 99))
	aggr := cat(varint(1, 1<<64-5), varint(2, 100), field(3, chunk), field(8, chunk))
	series := cat(field(1, label("__name__", "up")), field(1, label("job", "node")), field(2, aggr), field(2, aggr))
	batch := func(series ...[]byte) []byte {
		var b []byte
		for _, s := range series {
			b = append(b, field(1, s)...)
		}
		return field(4, b)
	}
	// Fields no message here has, of every wire type, a group among them.
	unknown := cat(varint(19, 5), []byte{0xa1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, field(21, []byte("hi")),
		[]byte{0xb5, 0x01, 1, 2, 3, 4}, []byte{0xbb, 0x01, 0x08, 1, 0xbc, 0x01})
	hints, err := types.MarshalAny(&storepb.SeriesResponse{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		err  bool
	}{
		{name: "series", msg: mustMarshal(t, storepb.NewSeriesResponse(sampleSeries()[0]))},
		{name: "batch", msg: mustMarshal(t, storepb.NewBatchResponse(sampleSeries()))},
		{name: "handmade batch", msg: batch(series, series)},
		{name: "empty batch", msg: field(4, nil)},
		{name: "empty series", msg: field(1, nil)},
		{name: "empty series in a batch", msg: batch(nil, series, nil)},
		{name: "empty response", msg: nil},
		{name: "chunk without data", msg: batch(field(2, field(3, varint(1, 1))))},
		{name: "chunk with empty data", msg: batch(field(2, field(3, field(2, nil))))},
		{name: "chunk given twice is merged", msg: batch(field(2, cat(field(3, cat(varint(1, 1), field(2, []byte("a")))), field(3, varint(3, 7)))))},
		{name: "scalars given twice: the last", msg: batch(field(2, cat(varint(1, 1), varint(1, 2), field(4, cat(varint(1, 1), varint(1, 2))))))},
		{name: "fields out of order", msg: batch(cat(field(2, cat(varint(2, 9), field(5, field(2, []byte("d"))), varint(1, 3))), field(1, label("a", "1"))))},
		{name: "label fields given twice: the last", msg: batch(field(1, cat(label("a", "1"), label("b", "2"))))},
		{name: "chunk type past 32 bits", msg: batch(field(2, field(3, varint(1, 1<<40|2))))},
		{name: "ten-byte varint past 64 bits", msg: batch(field(2, cat([]byte{0x08}, []byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f})))},
		{name: "unknown fields everywhere", msg: cat(unknown, field(4, cat(unknown, field(1, cat(unknown,
			field(1, cat(unknown, label("a", "1"), unknown)),
			field(2, cat(unknown, varint(1, 3), field(3, cat(unknown, chunk, unknown)), unknown)))), unknown)), unknown)},
		{name: "two series: the last", msg: cat(field(1, series), field(1, field(1, label("a", "b"))))},
		{name: "batch then series", msg: cat(batch(series), field(1, series))},
		{name: "series then warning", msg: cat(field(1, series), field(2, []byte("careful")))},
		{name: "warning", msg: field(2, []byte("careful"))},
		{name: "hints", msg: field(3, mustMarshalAny(t, hints))},

		{name: "series as a varint", msg: varint(1, 1), err: true},
		{name: "batch series as a varint", msg: field(4, varint(1, 1)), err: true},
		{name: "labels as a varint", msg: batch(varint(1, 1)), err: true},
		{name: "chunks as fixed32", msg: batch([]byte{0x15, 1, 2, 3, 4}), err: true},
		{name: "label name as a varint", msg: batch(field(1, varint(1, 1))), err: true},
		{name: "label value as fixed64", msg: batch(field(1, []byte{0x11, 1, 2, 3, 4, 5, 6, 7, 8})), err: true},
		{name: "min time as bytes", msg: batch(field(2, field(1, nil))), err: true},
		{name: "max time as bytes", msg: batch(field(2, field(2, nil))), err: true},
		{name: "raw as a varint", msg: batch(field(2, varint(3, 1))), err: true},
		{name: "counter as a group", msg: batch(field(2, []byte{0x43, 0x44})), err: true},
		{name: "chunk type as bytes", msg: batch(field(2, field(3, field(1, nil)))), err: true},
		{name: "chunk data as a varint", msg: batch(field(2, field(5, varint(2, 1)))), err: true},
		{name: "chunk hash as bytes", msg: batch(field(2, field(7, field(3, nil)))), err: true},
		{name: "chunk data longer than the message", msg: batch(field(2, field(3, []byte{0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40}))), err: true},
		{name: "chunk data of a negative length", msg: batch(field(2, field(3, []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))), err: true},
		{name: "end of a group in a series", msg: batch([]byte{0x0c}), err: true},
		{name: "field number 0 in a chunk", msg: batch(field(2, field(3, []byte{0x00, 0x00}))), err: true},
		{name: "wire type 7 in a label", msg: batch(field(1, []byte{0x0f})), err: true},
		{name: "group not ended in a batch", msg: field(4, []byte{0x0b, 0x08, 1}), err: true},
		{name: "truncated unknown field", msg: batch(field(2, []byte{0xa1, 0x01, 1, 2})), err: true},
		{name: "bad series before a good one", msg: cat(field(1, varint(1, 1)), field(1, series)), err: true},
		{name: "bad hints", msg: field(3, []byte{0x0f}), err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBoth(t, tc.msg)
			if tc.err != (err != nil) {
				t.Fatalf("error %v, want one: %t", err, tc.err)
			}
		})
	}
}

func mustMarshalAny(t *testing.T, a *types.Any) []byte {
	t.Helper()
	b, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalSeriesResponseTruncated decodes every prefix of a batch,
// which the decoder and gogo's either both take alike or both refuse.
func TestUnmarshalSeriesResponseTruncated(t *testing.T) {
	msg := mustMarshal(t, storepb.NewBatchResponse(sampleSeries()))
	for cut := range len(msg) {
		decodeBoth(t, msg[:cut])
	}
}

// TestUnmarshalSeriesResponseAliases checks that labels and chunk data point
// into the message rather than being copied, as gogo's do, and that the
// structs of a batch take the same few allocations whatever its size.
func TestUnmarshalSeriesResponseAliases(t *testing.T) {
	msg := mustMarshal(t, storepb.NewBatchResponse(sampleSeries()))
	var resp storepb.SeriesResponse
	if err := unmarshalSeriesResponse(msg, &resp); err != nil {
		t.Fatal(err)
	}
	inMsg := func(p *byte) bool {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
		return uintptr(unsafe.Pointer(p)) >= start && uintptr(unsafe.Pointer(p)) < start+uintptr(len(msg))
	}
	for _, s := range resp.GetBatch().Series {
		for _, l := range s.Labels {
			if l.Name != "" && !inMsg(unsafe.StringData(l.Name)) || l.Value != "" && !inMsg(unsafe.StringData(l.Value)) {
				t.Fatalf("label %s=%s copied out of the message", l.Name, l.Value)
			}
		}
		for _, c := range s.Chunks {
			if len(c.Raw.Data) > 0 && !inMsg(unsafe.SliceData(c.Raw.Data)) {
				t.Fatalf("chunk data %q copied out of the message", c.Raw.Data)
			}
		}
	}

	allocs := func(series []*storepb.Series) float64 {
		msg := mustMarshal(t, storepb.NewBatchResponse(series))
		return testing.AllocsPerRun(20, func() {
			var resp storepb.SeriesResponse
			if err := unmarshalSeriesResponse(msg, &resp); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(sampleSeries()[:1]), allocs(benchSeries(64, 48))
	if small != large || large > 8 {
		t.Fatalf("%v allocations for a series of 2 chunks, %v for 64 series of 48: want as few, and at most 8", small, large)
	}
}

var errFuzzWarning = errors.New("a store is away")

// FuzzSeriesResponseDecode checks that the decoder takes exactly what gogo's
// generated decoder takes, and decodes it alike.
func FuzzSeriesResponseDecode(f *testing.F) {
	for _, resp := range []*storepb.SeriesResponse{
		storepb.NewSeriesResponse(sampleSeries()[0]),
		storepb.NewSeriesResponse(sampleSeries()[2]),
		storepb.NewBatchResponse(sampleSeries()),
		storepb.NewBatchResponse(benchSeries(2, 3)),
		storepb.NewWarnSeriesResponse(errFuzzWarning),
	} {
		f.Add(mustMarshal(f, resp))
	}
	f.Add(field(4, cat(field(1, nil), field(1, field(2, []byte{0x1a, 0x00, 0x43, 0x44})))))
	f.Add([]byte{0x22, 0x04, 0x0a, 0x02, 0x0b, 0x0c})
	f.Fuzz(func(t *testing.T, msg []byte) {
		decodeBoth(t, msg)
	})
}
