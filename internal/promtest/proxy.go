package promtest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// Proxy returns a reverse proxy to the Prometheus at target, for tests
// that put a fault or a gate between a sidecar and it. It reads each
// request's body whole before forwarding it: Go's HTTP/1 server discards
// the unread rest of a request body once the response begins, and a
// proxy that streams the body upstream meanwhile can lose that race and
// cut the answer short (golang/go#40747), which looks like a broken
// Prometheus to the test.
func Proxy(target *url.URL) http.Handler {
	forward := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadGateway)
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		forward.ServeHTTP(w, r)
	})
}
