package discovery

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Set's own instruments. The per-endpoint gauges are
// collected from the Set's current endpoints (see setCollector) so that an
// endpoint that leaves takes its series with it.
type metrics struct {
	infoDuration     prometheus.Histogram
	dnsLookups       prometheus.Counter
	dnsLookupErrors  prometheus.Counter
	fileSDReadErrors prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		infoDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:                           "tandem_endpoint_info_duration_seconds",
			Help:                           "Duration of thanos.info.Info calls to endpoints, failed ones included.",
			Buckets:                        []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
			NativeHistogramBucketFactor:    1.1,
			NativeHistogramMaxBucketNumber: 100,
		}),
		dnsLookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thanos_query_store_apis_dns_lookups_total",
			Help: "DNS lookups of dns+, dnssrv+ and dnssrvnoa+ endpoint addresses.",
		}),
		dnsLookupErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thanos_query_store_apis_dns_failures_total",
			Help: "DNS lookups of endpoint addresses that failed; the last good answer was kept.",
		}),
		fileSDReadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_endpoint_file_sd_read_errors_total",
			Help: "Re-reads of file SD files that failed; the last good endpoints were kept.",
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer, set *Set) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.infoDuration, m.dnsLookups, m.dnsLookupErrors, m.fileSDReadErrors, newSetCollector(set)} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register endpoint metrics: %w", err)
	}
	return nil
}

// setCollector reports the endpoints the Set holds at scrape time.
type setCollector struct {
	set           *Set
	endpointUp    *prometheus.Desc
	endpointCount *prometheus.Desc
}

func newSetCollector(set *Set) setCollector {
	return setCollector{
		set: set,
		endpointUp: prometheus.NewDesc(
			"tandem_endpoint_up",
			"1 if the endpoint's last Info call succeeded, 0 otherwise.",
			[]string{"address", "component"}, nil,
		),
		endpointCount: prometheus.NewDesc(
			"tandem_endpoints",
			"Number of discovered endpoints by health state.",
			[]string{"state"}, nil,
		),
	}
}

func (c setCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.endpointUp
	ch <- c.endpointCount
}

func (c setCollector) Collect(ch chan<- prometheus.Metric) {
	var healthy, unhealthy float64
	for _, st := range c.set.Status() {
		up := 0.0
		if st.Healthy {
			up = 1
			healthy++
		} else {
			unhealthy++
		}
		ch <- prometheus.MustNewConstMetric(c.endpointUp, prometheus.GaugeValue, up, st.Name, st.ComponentType)
	}
	ch <- prometheus.MustNewConstMetric(c.endpointCount, prometheus.GaugeValue, healthy, "healthy")
	ch <- prometheus.MustNewConstMetric(c.endpointCount, prometheus.GaugeValue, unhealthy, "unhealthy")
}
