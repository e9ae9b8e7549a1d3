// Package ui serves the query's web UI: an expression browser (table and
// graph, with the dedup and partial-response switches), the alerts, rules,
// targets and stores pages and the status page. The assets are built from
// web/ by `make ui` into dist/ and embedded, so `go build` needs no npm and
// the UI needs no internet.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// basePlaceholder is the <base> element of dist/index.html. The handler
// replaces it with the real base path, so every relative asset and API URL
// in the page resolves under the prefixes the server runs with.
const basePlaceholder = `<base href="/">`

// Pages are the paths the single-page app routes itself; each serves
// index.html. "/" and "/query" show the expression browser like "/graph"
// (Prometheus 3 and Thanos links use /query).
var Pages = []string{"/graph", "/query", "/alerts", "/rules", "/targets", "/stores", "/status"}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the UI under routePrefix, the path prefix this server
// routes on (--web.route-prefix). externalPrefix (--web.external-prefix) is
// the prefix the browser sees when a reverse proxy strips it before
// forwarding; when set, the page's links and API calls use it instead of
// routePrefix. Paths that are not the UI's answer 404, so mount the handler
// as the fallback of a mux that has the API's more specific routes.
func Handler(routePrefix, externalPrefix string) http.Handler {
	h, err := newHandler(dist, routePrefix, externalPrefix)
	if err != nil {
		// The embedded bundle is checked by the package's tests and by
		// `make ui-check`; a broken one is a build defect, not a runtime
		// condition.
		panic(err)
	}
	return h
}

func newHandler(fsys fs.FS, routePrefix, externalPrefix string) (http.Handler, error) {
	route := cleanPrefix(routePrefix)
	base := cleanPrefix(externalPrefix)
	if base == "" {
		base = route
	}
	index, err := loadIndex(fsys, base+"/")
	if err != nil {
		return nil, err
	}
	static, err := loadStatic(fsys)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	serveIndex := func(w http.ResponseWriter, r *http.Request) { serveAsset(w, r, index) }
	mux.HandleFunc("GET "+route+"/{$}", serveIndex)
	for _, p := range Pages {
		mux.HandleFunc("GET "+route+p, serveIndex)
	}
	if route != "" {
		// The prefix without its slash: send the browser to the page whose
		// relative URLs resolve under the prefix.
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, base+"/", http.StatusFound)
		})
	}
	mux.HandleFunc("GET "+route+"/static/{file...}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := static[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serveAsset(w, r, a)
	})
	return mux, nil
}

// cleanPrefix turns "", "/" and "/a/b/" into "", "" and "/a/b".
func cleanPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

func loadIndex(fsys fs.FS, baseHref string) (asset, error) {
	b, err := fs.ReadFile(fsys, "dist/index.html")
	if err != nil {
		return asset{}, fmt.Errorf("ui: embedded bundle incomplete (run `make ui`): %w", err)
	}
	if !bytes.Contains(b, []byte(basePlaceholder)) {
		return asset{}, fmt.Errorf("ui: dist/index.html has no %s to replace", basePlaceholder)
	}
	b = bytes.Replace(b, []byte(basePlaceholder),
		[]byte(`<base href="`+html.EscapeString(baseHref)+`">`), 1)
	return newAsset("index.html", b), nil
}

// loadStatic reads every file under dist/static, keyed by its path below it.
func loadStatic(fsys fs.FS) (map[string]asset, error) {
	static := map[string]asset{}
	err := fs.WalkDir(fsys, "dist/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		static[strings.TrimPrefix(p, "dist/static/")] = newAsset(p, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: embedded bundle incomplete (run `make ui`): %w", err)
	}
	return static, nil
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// serveAsset answers with the file and a content ETag. Asset names carry no
// hash (the bundle must build byte-for-byte the same every time), so the
// browser revalidates each load and gets a 304 while the binary is unchanged.
func serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
