package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/promtest"
)

// base is when the fixture's data starts; the data is fixed so results are
// exact.
var base = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	step    = 15 * time.Second
	samples = 480 // two hours
	targets = 4
)

// value is what both replicas scraped from target i at sample j.
func value(i, j int) float64 { return float64(i*10_000 + j) }

// replicaData writes the same targets for one replica, as two replicas that
// scraped the same targets at the same moments would hold them.
func replicaData() string {
	f := promtest.Family{Name: "http_requests", Type: "counter"}
	for i := range targets {
		s := promtest.Series{Labels: map[string]string{"instance": fmt.Sprintf("host-%d", i), "job": "web"}}
		for j := range samples {
			s.Samples = append(s.Samples, promtest.Sample{T: base.Add(time.Duration(j) * step).UnixMilli(), V: value(i, j)})
		}
		f.Series = append(f.Series, s)
	}
	return promtest.OpenMetrics(f)
}

// replicas starts n Prometheus replicas of the same data, with external
// labels cluster=eu and replica=r0..r(n-1).
func replicas(t *testing.T, n int) []*promtest.Server {
	t.Helper()
	return startReplicas(t, n, replicaData())
}
