package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPprof checks that the profiles are served next to the API and the UI,
// whatever the route prefix.
func TestPprof(t *testing.T) {
	srv := startServer(t, "query", "--http-address=127.0.0.1:0", "--grpc-address=127.0.0.1:0", "--web.route-prefix=/tandem")
	base := "http://" + srv.httpLis.Addr().String()
	for _, tc := range []struct{ path, want string }{
		{"/debug/pprof/", "Types of profiles available"},
		{"/debug/pprof/heap?debug=1", "heap profile:"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
		{"/debug/pprof/cmdline", "tandem"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %s, want 200 with %q:\n%.300s", tc.path, resp.Status, tc.want, body)
		}
	}
}
