package discovery

import (
	"testing"
	"unsafe"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
)

// TestMetadataFromInfoCopiesStrings mimics gogo, which decodes strings
// pointing into the receive buffer: the metadata must not change when that
// buffer is reused.
func TestMetadataFromInfoCopiesStrings(t *testing.T) {
	buf := []byte("replicaA-0sidecar")
	view := func(from, to int) string { return unsafe.String(&buf[from], to-from) }
	resp := &infopb.InfoResponse{
		ComponentType: view(10, 17),
		LabelSets: []labelpb.ZLabelSet{{Labels: []labelpb.ZLabel{
			{Name: view(0, 7), Value: view(7, 10)},
		}}},
	}
	m := metadataFromInfo(resp)
	copy(buf, "XXXXXXXXXXXXXXXXX")

	if m.componentType != "sidecar" {
		t.Errorf("component type changed with the buffer: %q", m.componentType)
	}
	if got := m.labelSets[0].Get("replica"); got != "A-0" {
		t.Errorf("label set changed with the buffer: %v", m.labelSets)
	}
	// Without a Store entry the endpoint serves no Store API.
	if m.storeAPI {
		t.Error("storeAPI set without a Store entry in the reply")
	}
}
