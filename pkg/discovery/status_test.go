package discovery_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

func TestStoresHandler(t *testing.T) {
	sidecar := startInfoServer(t, "sidecar", "replica", "a", "cluster", "eu")
	store := startInfoServer(t, "store")
	store.setComponent("store")
	down := startInfoServer(t, "down")
	down.stop()

	opts := discovery.Options{
		Endpoints:    []string{sidecar.addr, store.addr, down.addr},
		InfoInterval: 50 * time.Millisecond,
	}
	set, _ := runSet(t, opts)
	waitForStores(t, set, slack, sidecar, store)
	wait.Until(t, slack, "endpoint set", func() error {
		if st, _ := statusOf(set, down.addr); st.LastError == nil {
			return fmt.Errorf("no error recorded yet for the stopped server")
		}
		return nil
	})

	rec := httptest.NewRecorder()
	set.StoresHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/stores", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	var body struct {
		Status string                      `json:"status"`
		Data   map[string][]map[string]any `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if body.Status != "success" {
		t.Fatalf("status %q, want success", body.Status)
	}
	var components []string
	for c := range body.Data {
		components = append(components, c)
	}
	slices.Sort(components)
	if want := []string{"sidecar", "store", "unknown-store-api"}; !slices.Equal(components, want) {
		t.Fatalf("components %q, want %q", components, want)
	}

	wantKeys := []string{"labelSets", "lastCheck", "lastError", "maxTime", "minTime", "name"}
	for c, list := range body.Data {
		if len(list) != 1 {
			t.Fatalf("%s: %d endpoints, want 1", c, len(list))
		}
		var keys []string
		for k := range list[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("%s: keys %q, want %q", c, keys, wantKeys)
		}
		if _, err := time.Parse(time.RFC3339, list[0]["lastCheck"].(string)); err != nil {
			t.Errorf("%s: lastCheck: %v", c, err)
		}
	}

	healthy := body.Data["sidecar"][0]
	want := map[string]any{
		"name":      sidecar.addr,
		"lastError": nil,
		"labelSets": []any{map[string]any{"cluster": "eu", "replica": "a"}},
		"minTime":   json.Number("1000"),
		"maxTime":   json.Number("2000"),
	}
	for k, v := range want {
		if !reflect.DeepEqual(healthy[k], v) {
			t.Errorf("sidecar %s = %#v, want %#v", k, healthy[k], v)
		}
	}

	// An endpoint that never answered: what Thanos shows for it.
	unknown := body.Data["unknown-store-api"][0]
	if msg, ok := unknown["lastError"].(string); !ok || msg == "" {
		t.Errorf("lastError of the down endpoint = %#v, want an error string", unknown["lastError"])
	}
	if got := unknown["labelSets"]; !reflect.DeepEqual(got, []any{}) {
		t.Errorf("labelSets of the down endpoint = %#v, want []", got)
	}
	if unknown["minTime"] != json.Number("-9223372036854775808") || unknown["maxTime"] != json.Number("9223372036854775807") {
		t.Errorf("time range of the down endpoint = %v..%v, want all time", unknown["minTime"], unknown["maxTime"])
	}
}
