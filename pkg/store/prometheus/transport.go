package prometheus

import (
	"net"
	"net/http"
	"time"
)

// Transport is the HTTP transport for talking to a local Prometheus: quick
// to notice that it is gone, patient with long streamed reads. Compression
// is left off: the chunks are already compressed and the hop is local.
func Transport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		DisableCompression:    true,
	}
}
