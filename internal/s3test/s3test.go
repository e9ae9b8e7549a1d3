// Package s3test serves one S3 bucket from memory on a loopback port, with
// the S3-compatible server of github.com/johannesboyne/gofakes3, for tests
// of what writes and reads object storage through S3 clients (Thanos's
// objstore, whose S3 client is minio-go's).
package s3test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is the server's one bucket; AccessKey and SecretKey are the
// credentials clients sign with (the server checks no signature).
const (
	Bucket    = "tandem"
	AccessKey = "tandem-access"
	SecretKey = "tandem-secret"
)

// Server is an S3-compatible server whose test can stop it and start it
// again on the same port (the objects kept), make it shed load, and make
// writes of an object hang.
type Server struct {
	tb      testing.TB
	addr    string
	handler http.Handler

	mu      sync.Mutex
	srv     *http.Server             // nil while stopped
	stalled map[string]chan struct{} // by object name, closed on release
	failure *s3Error                 // the answer to every request, if not nil
	written []string                 // object names of the PUTs that succeeded
	held    int                      // writes stalled now
}

// Start serves an empty bucket until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, handler: gofakes3.New(backend).Server(), stalled: map[string]chan struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	tb.Cleanup(s.Stop)
	return s
}

// Config is an object store config in Thanos's format for the bucket, as
// for any S3-compatible server on an address of its own (path-style
// requests, no region). Each request is tried once: the shipper and the
// store gateway retry on their own, and a test of an outage sees it at the
// first request.
func (s *Server) Config() string {
	return fmt.Sprintf(`type: S3
config:
  bucket: %s
  endpoint: %s
  insecure: true
  access_key: %s
  secret_key: %s
  max_retries: 1
`, Bucket, s.addr, AccessKey, SecretKey)
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.tb.Errorf("S3 server: %v", err)
		}
	}()
}

// Stop closes the port and every connection: clients are refused until
// Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Restart serves the bucket again on the same port after Stop.
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.tb.Fatalf("S3 server listening again: %v", err)
	}
	s.serve(ln)
}

// Stall makes every write of the object hang, as on a server that stopped
// answering, until release; then each write held fails with its
// connection closed, and nothing of it is stored. Later writes succeed.
func (s *Server) Stall(object string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.stalled[object] = ch
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.stalled, object)
			s.mu.Unlock()
			close(ch)
		})
	}
	s.tb.Cleanup(release)
	return release
}

// SlowDown makes the server answer every request with 503 SlowDown, as S3
// does when it sheds load, until the returned function is called.
func (s *Server) SlowDown() (end func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = &s3Error{Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.failure = nil
	}
}

// Written lists the objects written so far, in the order their writes
// succeeded; an object written twice is there twice.
func (s *Server) Written() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.written)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	failure := s.failure
	s.mu.Unlock()
	if failure != nil {
		failure.write(w, r)
		return
	}
	object, inBucket := strings.CutPrefix(r.URL.Path, "/"+Bucket+"/")
	if r.Method != http.MethodPut || !inBucket {
		s.handler.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	stall := s.stalled[object]
	s.mu.Unlock()
	if stall != nil {
		s.hold(1)
		<-stall
		s.hold(-1)
		panic(http.ErrAbortHandler) // closes the connection, unanswered
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.handler.ServeHTTP(sw, r)
	if sw.status == http.StatusOK && !r.URL.Query().Has("uploadId") {
		s.mu.Lock()
		s.written = append(s.written, object)
		s.mu.Unlock()
	}
}

func (s *Server) hold(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held += n
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// s3Error is an error answer of S3's REST API.
type s3Error struct {
	XMLName xml.Name `xml:"Error"`
	Status  int      `xml:"-"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
}

func (e *s3Error) write(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_ = xml.NewEncoder(w).Encode(e)
	}
}
