package prometheus

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestAPIAnswerBounded: a Prometheus (or what pretends to be one) that
// answers without end costs at most maxAPIResponse and a clear error.
func TestAPIAnswerBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"groups":[`))
		group := []byte(`{"name":"g","file":"f","rules":[]},`)
		chunk := bytes.Repeat(group, 1<<14)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var data any
	_, err := NewClient(u, nil).api(t.Context(), "/api/v1/rules", nil, &data)
	if err == nil || !strings.Contains(err.Error(), "/api/v1/rules: answer larger than 64 MiB") {
		t.Errorf("error %v, want one saying the answer is larger than 64 MiB", err)
	}
}
