package targetmetapb

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/protobuf/encoding/protowire"
)

// marshalled writes a message the way the gRPC codec does.
func marshalled(t *testing.T, m interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}) []byte {
	t.Helper()
	b := make([]byte, m.Size())
	n, err := m.MarshalToSizedBuffer(b)
	if err != nil || n != len(b) {
		t.Fatalf("marshal: %d of %d bytes, %v", n, len(b), err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	req := &Request{Metric: "up", MatchTarget: `{job="x"}`, Limit: 7, PartialResponseStrategy: storepb.PartialResponseStrategy_ABORT}
	var gotReq Request
	if err := gotReq.Unmarshal(marshalled(t, req)); err != nil || gotReq != *req {
		t.Errorf("request %+v (%v), want %+v", gotReq, err, *req)
	}
	resp := &Response{Entries: []Entry{
		{Target: labels.FromStrings("instance", "a:80", "job", "x"), Metric: "up", Type: "gauge", Help: "Up.", Unit: ""},
		{Target: labels.EmptyLabels(), Metric: "rpc_seconds", Type: "histogram", Unit: "seconds"},
	}, Warning: "slow"}
	var gotResp Response
	if err := gotResp.Unmarshal(marshalled(t, resp)); err != nil || fmt.Sprint(gotResp) != fmt.Sprint(*resp) {
		t.Errorf("response %+v (%v), want %+v", gotResp, err, *resp)
	}
	// A field a later version adds is skipped.
	extra := protowire.AppendTag(marshalled(t, req), 9, protowire.Fixed64Type)
	extra = protowire.AppendFixed64(extra, 42)
	if err := gotReq.Unmarshal(extra); err != nil || gotReq != *req {
		t.Errorf("with an unknown field: %+v, %v", gotReq, err)
	}
}

// TestUnmarshalBroken: whatever arrives is an error or a message, never a
// panic or a read past the input.
func TestUnmarshalBroken(t *testing.T) {
	whole := marshalled(t, &Response{Entries: []Entry{{Target: labels.FromStrings("job", "x"), Metric: "up"}}})
	for n := range len(whole) {
		var r Response
		_ = r.Unmarshal(whole[:n])
	}
	for _, b := range [][]byte{
		{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, // a length far past the end
		{0x08},                               // a varint that never ends
		{0x0f},                               // field 1 of a reserved wire type
	} {
		var r Response
		if err := r.Unmarshal(b); err == nil {
			t.Errorf("%x: no error", b)
		}
	}
}
