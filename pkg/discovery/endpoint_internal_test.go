package discovery

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"google.golang.org/grpc/metadata"

	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
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
	m := metadataFromInfo(resp, nil)
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

// TestMetadataFromInfoWithoutReplicaLabels checks which endpoints are asked
// to strip replica labels themselves: any that says it can, but a querier
// only if it keeps the replicas' copies apart.
func TestMetadataFromInfoWithoutReplicaLabels(t *testing.T) {
	for _, tc := range []struct {
		component string
		supports  bool
		header    metadata.MD
		want      bool
	}{
		{component: "sidecar", supports: true, want: true},
		{component: "store", supports: true, want: true},
		{component: "sidecar", supports: false, want: false},
		{component: "query", supports: true, want: false},
		{component: "query", supports: true, header: metadata.Pairs(CopiesHeader, CopiesSeparate), want: true},
		{component: "query", supports: false, header: metadata.Pairs(CopiesHeader, CopiesSeparate), want: false},
	} {
		resp := &infopb.InfoResponse{ComponentType: tc.component, Store: &infopb.StoreInfo{SupportsWithoutReplicaLabels: tc.supports}}
		if got := metadataFromInfo(resp, tc.header).supportsWithoutReplicaLabels; got != tc.want {
			t.Errorf("%s, supports %v, header %v: %v, want %v", tc.component, tc.supports, tc.header, got, tc.want)
		}
	}
}

// TestMetadataFromInfoAPIs: the APIs besides Store come from the fields
// of the Info reply, Tandem's target metadata API from a header.
func TestMetadataFromInfoAPIs(t *testing.T) {
	full := &infopb.InfoResponse{Rules: &infopb.RulesInfo{}, Targets: &infopb.TargetsInfo{},
		MetricMetadata: &infopb.MetricMetadataInfo{}, Exemplars: &infopb.ExemplarsInfo{}}
	all := []API{RulesAPI, TargetsAPI, MetricMetadataAPI, ExemplarsAPI, TargetMetadataAPI}
	for _, tc := range []struct {
		name   string
		resp   *infopb.InfoResponse
		header metadata.MD
		want   []API
	}{
		{name: "a store gateway", resp: &infopb.InfoResponse{Store: &infopb.StoreInfo{}}},
		{name: "Thanos's sidecar", resp: full, want: all[:4]},
		{name: "Tandem's sidecar", resp: full, header: metadata.Pairs(targetmetapb.APIHeader, targetmetapb.APIHeaderValue), want: all},
		{name: "a later version of the API", resp: full, header: metadata.Pairs(targetmetapb.APIHeader, "v2"), want: all[:4]},
		{name: "a ruler", resp: &infopb.InfoResponse{Rules: &infopb.RulesInfo{}}, want: all[:1]},
	} {
		m := metadataFromInfo(tc.resp, tc.header)
		for _, api := range all {
			if got, want := m.apis.has(api), slices.Contains(tc.want, api); got != want {
				t.Errorf("%s: %s API announced %v, want %v", tc.name, api, got, want)
			}
		}
	}
}
