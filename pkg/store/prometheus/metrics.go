package prometheus

import (
	promclient "github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sidecar's own metrics about the data it relays.
type Metrics struct {
	frameBytes promclient.Counter
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg promclient.Registerer) *Metrics {
	m := &Metrics{
		frameBytes: promclient.NewCounter(promclient.CounterOpts{
			Name: "tandem_sidecar_remote_read_bytes_total",
			Help: "Bytes of remote-read frames received from Prometheus.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.frameBytes)
	}
	return m
}
