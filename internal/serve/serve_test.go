package serve

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHTTPServerDropsIdleClients connects clients that send half a request,
// or finish one and then stay silent: the server closes both connections
// once its timeouts pass, instead of holding them forever.
func TestHTTPServerDropsIdleClients(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), 200*time.Millisecond, 300*time.Millisecond)
	// As the binaries serve it, through the web config's server.
	go func() { _ = (&Config{}).ServeHTTP(srv, lis, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, tc := range []struct {
		name string
		send string
		// complete: a whole request, whose answer comes before the close
		complete bool
	}{
		{name: "headers never finished", send: "GET / HTTP/1.1\r\nHost: x\r\n"},
		{name: "idle after a request", send: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", complete: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Far past the server's timeouts: only a server that never
			// closes reaches it.
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			if tc.complete {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			_, err = io.Copy(io.Discard, r)
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}
