package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

// bundle is a minimal dist/ with the shape `make ui` writes.
var bundle = fstest.MapFS{
	"dist/index.html":     {Data: []byte(`<html><head><base href="/"><script src="static/app.js"></script></head></html>`)},
	"dist/static/app.js":  {Data: []byte(`console.log(1)`)},
	"dist/static/app.css": {Data: []byte(`body{}`)},
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestHandlerRoutes(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		routePrefix, external  string
		path                   string
		wantCode               int
		wantBase, wantLocation string
		wantType               string
	}{
		{name: "root", path: "/", wantCode: 200, wantBase: "/"},
		{name: "graph", path: "/graph", wantCode: 200, wantBase: "/"},
		{name: "query", path: "/query?g0.expr=up", wantCode: 200, wantBase: "/"},
		{name: "stores", path: "/stores", wantCode: 200, wantBase: "/"},
		{name: "status", path: "/status", wantCode: 200, wantBase: "/"},
		{name: "script", path: "/static/app.js", wantCode: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "styles", path: "/static/app.css", wantCode: 200, wantType: "text/css; charset=utf-8"},
		{name: "missing asset", path: "/static/nope.js", wantCode: 404},
		{name: "alerts", path: "/alerts", wantCode: 200, wantBase: "/"},
		{name: "rules", path: "/rules", wantCode: 200, wantBase: "/"},
		{name: "targets", path: "/targets?dedup=false", wantCode: 200, wantBase: "/"},
		{name: "unknown page", path: "/service-discovery", wantCode: 404},
		{name: "below a page", path: "/graph/x", wantCode: 404},
		{name: "route prefix", routePrefix: "/tandem/", path: "/tandem/graph", wantCode: 200, wantBase: "/tandem/"},
		{name: "route prefix root", routePrefix: "/tandem", path: "/tandem/", wantCode: 200, wantBase: "/tandem/"},
		{name: "route prefix asset", routePrefix: "/tandem", path: "/tandem/static/app.js", wantCode: 200, wantType: "text/javascript; charset=utf-8"},
		{name: "route prefix without slash", routePrefix: "/tandem", path: "/tandem", wantCode: 302, wantLocation: "/tandem/"},
		{name: "outside route prefix", routePrefix: "/tandem", path: "/graph", wantCode: 404},
		// Behind a proxy that strips /outer: routes at the root, links under /outer.
		{name: "external prefix", routePrefix: "/", external: "/outer", path: "/stores", wantCode: 200, wantBase: "/outer/"},
		// Without a route prefix the server routes on the external one.
		{name: "external prefix only", routePrefix: "/outer", external: "/outer", path: "/outer/status", wantCode: 200, wantBase: "/outer/"},
		{name: "base is escaped", routePrefix: "/a", external: `/a"b`, path: "/a/", wantCode: 200, wantBase: "/a&#34;b/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := newHandler(bundle, tc.routePrefix, tc.external)
			if err != nil {
				t.Fatal(err)
			}
			w := get(t, h, tc.path)
			if w.Code != tc.wantCode {
				t.Fatalf("GET %s: %d, want %d", tc.path, w.Code, tc.wantCode)
			}
			if tc.wantBase != "" {
				if want := `<base href="` + tc.wantBase + `">`; !strings.Contains(w.Body.String(), want) {
					t.Errorf("GET %s: body has no %s:\n%s", tc.path, want, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("GET %s: Content-Type %q", tc.path, ct)
				}
			}
			if tc.wantType != "" && w.Header().Get("Content-Type") != tc.wantType {
				t.Errorf("GET %s: Content-Type %q, want %q", tc.path, w.Header().Get("Content-Type"), tc.wantType)
			}
			if tc.wantLocation != "" && w.Header().Get("Location") != tc.wantLocation {
				t.Errorf("GET %s: Location %q, want %q", tc.path, w.Header().Get("Location"), tc.wantLocation)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h, err := newHandler(bundle, "", "")
	if err != nil {
		t.Fatal(err)
	}
	first := get(t, h, "/static/app.js")
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v: want an ETag and Cache-Control: no-cache", first.Header())
	}
	if again := get(t, h, "/static/app.js", "If-None-Match", etag); again.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", again.Code)
	}
	if other := get(t, h, "/static/app.css", "If-None-Match", etag); other.Code != http.StatusOK {
		t.Errorf("another file with that ETag: %d, want 200", other.Code)
	}
}

func TestHandlerRejectsIncompleteBundle(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no index":       {"dist/static/app.js": bundle["dist/static/app.js"]},
		"no base href":   {"dist/index.html": {Data: []byte(`<html></html>`)}, "dist/static/app.js": bundle["dist/static/app.js"]},
		"no static file": {"dist/index.html": bundle["dist/index.html"]},
	} {
		if _, err := newHandler(fsys, "", ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The committed bundle is what the binary serves: it must be complete, and
// every file the page loads must be in it.
func TestEmbeddedBundle(t *testing.T) {
	h := Handler("", "")
	index := get(t, h, "/").Body.String()
	for _, ref := range []string{"static/app.js", "static/app.css"} {
		if !strings.Contains(index, `"`+ref+`"`) {
			t.Errorf("index.html does not load %s", ref)
		}
		if w := get(t, h, "/"+ref); w.Code != http.StatusOK || w.Body.Len() == 0 {
			t.Errorf("GET /%s: %d, %d bytes", ref, w.Code, w.Body.Len())
		}
	}
	// Nothing may come from another origin: the UI must work offline.
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".txt") {
			return err
		}
		b, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		for _, ext := range []string{`src="http`, `href="http`, `url(http`, `@import`} {
			if strings.Contains(string(b), ext) {
				t.Errorf("%s refers to another origin: %s", p, ext)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
