package discovery_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/info/infopb"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

// TestSetOffering: each API is asked of the endpoints that announce
// it, as Thanos's sidecar (all four, exemplars without a time range), its
// ruler (rules only, no Store API) and a store gateway (none) announce
// them.
func TestSetOffering(t *testing.T) {
	sidecar := startInfoServer(t, "sidecar", "replica", "a")
	sidecar.update(func(r *infopb.InfoResponse) {
		r.Rules, r.Targets, r.MetricMetadata, r.Exemplars = &infopb.RulesInfo{}, &infopb.TargetsInfo{}, &infopb.MetricMetadataInfo{}, &infopb.ExemplarsInfo{}
	})
	ruler := startInfoServer(t, "ruler", "replica", "b")
	ruler.update(func(r *infopb.InfoResponse) { r.Store, r.Rules = nil, &infopb.RulesInfo{} })
	gateway := startInfoServer(t, "gateway")
	querier := startInfoServer(t, "querier")
	querier.update(func(r *infopb.InfoResponse) { r.Exemplars = &infopb.ExemplarsInfo{MinTime: 1500, MaxTime: 3000} })
	set, _ := runSet(t, discovery.Options{
		Endpoints:    []string{sidecar.addr, ruler.addr, gateway.addr, querier.addr},
		InfoInterval: 50 * time.Millisecond,
		InfoTimeout:  500 * time.Millisecond,
	})
	addrs := func(api discovery.API) []string {
		var out []string
		for _, e := range set.Offering(api) {
			if e.Healthy() {
				out = append(out, e.String())
			}
		}
		return out
	}
	want := map[discovery.API][]string{
		discovery.RulesAPI:          serverAddrs(sidecar, ruler),
		discovery.TargetsAPI:        serverAddrs(sidecar),
		discovery.MetricMetadataAPI: serverAddrs(sidecar),
		discovery.ExemplarsAPI:      serverAddrs(sidecar, querier),
	}
	// Every endpoint turns healthy at its own first Info call: the Store
	// API's too is awaited, not read once the others are in.
	wait.Until(t, slack, "endpoints by API", func() error {
		for api, w := range want {
			if got := addrs(api); !slices.Equal(got, w) {
				return fmt.Errorf("%s API: %q, want %q", api, got, w)
			}
		}
		if got := storeAddrs(set); !slices.Equal(got, serverAddrs(sidecar, gateway, querier)) {
			return fmt.Errorf("Store API: %q, want all but the ruler", got)
		}
		return nil
	})
	// Exemplars are where the Store API's data is unless announced.
	for _, tc := range []struct {
		srv        *infoServer
		mint, maxt int64
	}{{sidecar, 1000, 2000}, {querier, 1500, 3000}} {
		eps := set.Offering(discovery.ExemplarsAPI)
		e := eps[slices.IndexFunc(eps, func(e *discovery.Endpoint) bool { return e.String() == tc.srv.addr })]
		if mint, maxt := e.ExemplarsTimeRange(); mint != tc.mint || maxt != tc.maxt {
			t.Errorf("%s: exemplars time range %d..%d, want %d..%d", tc.srv.name, mint, maxt, tc.mint, tc.maxt)
		}
	}

	sidecar.stop()
	wait.Until(t, slack, "the stopped sidecar unhealthy", func() error {
		if got := addrs(discovery.RulesAPI); !slices.Equal(got, serverAddrs(ruler)) {
			return fmt.Errorf("rules API: %q", got)
		}
		return nil
	})
	// It still offers the API, as far as the query knows, until dropped.
	if n := len(set.Offering(discovery.RulesAPI)); n != 2 {
		t.Errorf("%d endpoints offer the rules API, want the unhealthy sidecar too", n)
	}
}
