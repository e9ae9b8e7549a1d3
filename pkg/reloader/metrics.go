package reloader

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics follow the names of Thanos's reloader_* metrics under the tandem_
// prefix, so existing dashboards and alerts need only the prefix changed.
type metrics struct {
	reloads               prometheus.Counter
	reloadFailures        prometheus.Counter
	lastReloadSuccess     prometheus.Gauge
	lastReloadSuccessTime prometheus.Gauge
	configHash            prometheus.Gauge
	applies               prometheus.Counter
	applyFailures         prometheus.Counter
	watches               prometheus.Gauge
	watchEvents           prometheus.Counter
	watchErrors           prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		reloads: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_reloads_total",
			Help: "Reload requests sent to Prometheus.",
		}),
		reloadFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_reloads_failed_total",
			Help: "Reload requests that failed: Prometheus unreachable, or it rejected the config or rules.",
		}),
		lastReloadSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "reloader_last_reload_successful",
			Help: "Whether the last reload request succeeded (1) or failed (0).",
		}),
		lastReloadSuccessTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "reloader_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful reload.",
		}),
		configHash: f.NewGauge(prometheus.GaugeOpts{
			Name: "reloader_config_hash",
			Help: "Hash of the config (after environment substitution) that Prometheus last accepted; compare it across replicas.",
		}),
		applies: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_config_apply_operations_total",
			Help: "Times the config and rule directories were read and compared with the last applied state.",
		}),
		applyFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_config_apply_operations_failed_total",
			Help: "Apply operations that failed before a reload could be sent: unreadable file, bad gzip, unset environment variable, write error.",
		}),
		watches: f.NewGauge(prometheus.GaugeOpts{
			Name: "reloader_watches",
			Help: "Directories watched for changes.",
		}),
		watchEvents: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_watch_events_total",
			Help: "File-system events received from the watched directories.",
		}),
		watchErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "reloader_watch_errors_total",
			Help: "Errors received from the file-system watcher.",
		}),
	}
}

// hashValue turns the first 48 bits of a SHA-256 into a gauge value: a
// float64 holds them exactly, so equal configs always show equal values.
func hashValue(b []byte) float64 {
	sum := sha256.Sum256(b)
	var v [8]byte
	copy(v[2:], sum[:6])
	return float64(binary.BigEndian.Uint64(v[:]))
}
