package shipper

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics have the names of Thanos's shipper, which its dashboards read.
type metrics struct {
	dirSyncs          prometheus.Counter
	dirSyncFailures   prometheus.Counter
	uploads           prometheus.Counter
	uploadFailures    prometheus.Counter
	corruptedBlocks   prometheus.Counter
	uploadedCompacted prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		dirSyncs: f.NewCounter(prometheus.CounterOpts{
			Name: "thanos_shipper_dir_syncs_total",
			Help: "Passes over the TSDB directory that shipped every block due.",
		}),
		dirSyncFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "thanos_shipper_dir_sync_failures_total",
			Help: "Passes over the TSDB directory that left a block due unshipped: bucket errors, unreadable blocks, no external labels, a Prometheus whose flags forbid shipping.",
		}),
		uploads: f.NewCounter(prometheus.CounterOpts{
			Name: "thanos_shipper_uploads_total",
			Help: "Blocks uploaded.",
		}),
		uploadFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "thanos_shipper_upload_failures_total",
			Help: "Block uploads that failed; each is retried.",
		}),
		corruptedBlocks: f.NewCounter(prometheus.CounterOpts{
			Name: "thanos_shipper_corrupted_blocks_total",
			Help: "Local blocks whose meta.json could not be read.",
		}),
		uploadedCompacted: f.NewGauge(prometheus.GaugeOpts{
			Name: "thanos_shipper_upload_compacted_done",
			Help: "1 once the shipper, uploading compacted blocks too, has shipped every compacted block on disk.",
		}),
	}
}
