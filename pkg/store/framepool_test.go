package store

import (
	"reflect"
	"testing"

	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// TestCodecReusedFrameBuffer encodes a frame, gives its buffer back and
// encodes a smaller one, which may get the same buffer uncleared: what it
// decodes to must be the second frame alone.
func TestCodecReusedFrameBuffer(t *testing.T) {
	codec := Codec{frames: &framePool{}}
	for _, sizes := range [][2]int{{64, 8}, {64, 63}, {3, 1}} {
		data, err := codec.Marshal(storepb.NewBatchResponse(benchSeries(sizes[0], 4)))
		if err != nil {
			t.Fatal(err)
		}
		data.Free()
		small := storepb.NewBatchResponse(benchSeries(sizes[1], 3))
		if data, err = codec.Marshal(small); err != nil {
			t.Fatal(err)
		}
		if got, want := data.Len(), small.Size(); got != want {
			t.Fatalf("%v: %d bytes encoded, want %d", sizes, got, want)
		}
		var got storepb.SeriesResponse
		err = codec.Unmarshal(data, &got)
		data.Free()
		if err != nil {
			t.Fatalf("%v: %v", sizes, err)
		}
		if !reflect.DeepEqual(got.GetBatch().Series, small.GetBatch().Series) {
			t.Fatalf("%v: decoded %d series, not the %d encoded", sizes, len(got.GetBatch().Series), sizes[1])
		}
	}
}

// TestFramePoolTiers checks that a buffer has the length asked for and
// the capacity of gRPC's tier for it, and that only buffers of a tier's
// capacity are kept.
func TestFramePoolTiers(t *testing.T) {
	var p framePool
	for _, tc := range []struct{ n, capacity int }{
		{0, 256}, {256, 256}, {257, 4 << 10}, {20 << 10, 32 << 10}, {77 << 10, 1 << 20}, {1<<20 + 1, 1<<20 + 1},
	} {
		b := p.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.capacity {
			t.Errorf("Get(%d): length %d, capacity %d, want %d and %d", tc.n, len(*b), cap(*b), tc.n, tc.capacity)
		}
		p.Put(b)
	}
	odd := make([]byte, 100, 300)
	p.Put(&odd)
	if b := p.Get(100); cap(*b) == 300 {
		t.Error("a buffer of no tier's capacity was kept")
	}
}
