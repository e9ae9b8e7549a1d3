package store

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/golang/snappy"
	"google.golang.org/grpc/encoding"
)

// SnappyCompression is the gRPC compressor name of --grpc-compression=snappy.
const SnappyCompression = "snappy"

// snappyCompressor is gRPC's "snappy" compressor: the framed snappy stream
// format, which is what Thanos components send and accept under the same
// name. A side that registers it accepts compressed requests and answers
// them compressed; a client opts in per call with grpc.UseCompressor.
//
// Every message of a Series stream is compressed on its own, so writers and
// readers, each with buffers of about 64 KiB, are pooled rather than
// allocated per message.
type snappyCompressor struct {
	writers sync.Pool // of *snappyWriter
	readers sync.Pool // of *snappy.Reader
}

func init() {
	// Registered once, for every gRPC server and client in the process, next
	// to the codec: the sidecar and the querier both import this package.
	encoding.RegisterCompressor(&snappyCompressor{})
}

// Name implements encoding.Compressor.
func (c *snappyCompressor) Name() string { return SnappyCompression }

// Compress implements encoding.Compressor.
func (c *snappyCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	sw, ok := c.writers.Get().(*snappyWriter)
	if !ok {
		sw = &snappyWriter{pool: &c.writers}
		sw.w = snappy.NewBufferedWriter(&sw.buf)
	}
	sw.dst = w
	return sw, nil
}

// Decompress implements encoding.Compressor.
func (c *snappyCompressor) Decompress(r io.Reader) (io.Reader, error) {
	sr, ok := c.readers.Get().(*snappy.Reader)
	if ok {
		sr.Reset(r)
	} else {
		sr = snappy.NewReader(r)
	}
	return &snappyReader{r: sr, pool: &c.readers}, nil
}

// snappyWriter compresses one message into its own buffer and hands it to
// gRPC in one piece when gRPC closes it. Passed on as written, each 64 KiB
// snappy chunk would take a buffer of its own from gRPC's pool, whose size
// classes jump from 32 KiB to 1 MiB: a message of a few hundred KiB would
// hold several MiB until sent.
type snappyWriter struct {
	dst  io.Writer
	buf  bytes.Buffer
	w    *snappy.Writer // writes into buf
	pool *sync.Pool
}

func (w *snappyWriter) Write(p []byte) (int, error) {
	if w.dst == nil {
		return 0, errClosedWriter
	}
	return w.w.Write(p)
}

// Close writes the compressed message and returns the writer to the pool.
func (w *snappyWriter) Close() error {
	if w.dst == nil {
		return nil
	}
	err := w.w.Close()
	if err == nil {
		_, err = w.dst.Write(w.buf.Bytes())
	}
	w.dst = nil
	w.buf.Reset()
	w.w.Reset(&w.buf)
	w.pool.Put(w)
	return err
}

var errClosedWriter = errors.New("snappy: write after close")

// snappyReader returns its reader to the pool at the end of the message.
// gRPC reads every message to its end; a reader abandoned earlier (a
// message over the size limit, corrupt data) is left to the collector.
type snappyReader struct {
	r    *snappy.Reader
	pool *sync.Pool
}

func (r *snappyReader) Read(p []byte) (int, error) {
	if r.r == nil {
		return 0, io.EOF
	}
	n, err := r.r.Read(p)
	if errors.Is(err, io.EOF) {
		r.r.Reset(nil)
		r.pool.Put(r.r)
		r.r = nil
	}
	return n, err
}
