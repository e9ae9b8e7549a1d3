package prometheus

import (
	"context"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sidecar's own metrics about the data it relays.
type Metrics struct {
	frameBytes promclient.Counter
	blockBytes promclient.Counter
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg promclient.Registerer) *Metrics {
	m := &Metrics{
		frameBytes: promclient.NewCounter(promclient.CounterOpts{
			Name: "tandem_sidecar_remote_read_bytes_total",
			Help: "Bytes of remote-read frames received from Prometheus.",
		}),
		blockBytes: promclient.NewCounter(promclient.CounterOpts{
			Name: "tandem_sidecar_block_chunk_bytes_total",
			Help: "Bytes of chunks read from the blocks in Prometheus's data directory (--tsdb.path).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.frameBytes, m.blockBytes)
	}
	return m
}

// RegisterUp exports thanos_sidecar_prometheus_up, which Thanos's
// ThanosSidecarNoConnectionToStartedPrometheus alert reads: 1 while the
// sidecar can serve its Prometheus (it answers and has external labels),
// read at each scrape.
func RegisterUp(reg promclient.Registerer, target *Target) {
	reg.MustRegister(promclient.NewGaugeFunc(promclient.GaugeOpts{
		Name: "thanos_sidecar_prometheus_up",
		Help: "1 if the sidecar can serve its Prometheus: it answers and has external labels; 0 otherwise.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if target.Ready(ctx) != nil {
			return 0
		}
		return 1
	}))
}
