package discovery_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/discovery"
)

// slack absorbs scheduling delays on a busy machine in deadlines that
// otherwise follow from the configured intervals.
const slack = 2 * time.Second

// runSet starts a Set and stops it when the test ends.
func runSet(t *testing.T, opts discovery.Options) (*discovery.Set, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	set, err := discovery.NewSet(opts, slog.New(slog.NewTextHandler(t.Output(), nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if set.Ready() {
		t.Fatal("Ready before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := set.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return set, reg
}

func storeAddrs(set *discovery.Set) []string {
	var addrs []string
	for _, e := range set.HealthyStores() {
		addrs = append(addrs, e.String())
	}
	return addrs
}

func serverAddrs(servers ...*infoServer) []string {
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	slices.Sort(addrs)
	return addrs
}

// waitForStores waits until the healthy stores are exactly want.
func waitForStores(t *testing.T, set *discovery.Set, within time.Duration, want ...*infoServer) {
	t.Helper()
	wantAddrs := serverAddrs(want...)
	wait.Until(t, within, "endpoint set", func() error {
		if got := storeAddrs(set); !slices.Equal(got, wantAddrs) {
			return fmt.Errorf("healthy stores %q, want %q", got, wantAddrs)
		}
		return nil
	})
}

func statusOf(set *discovery.Set, addr string) (discovery.EndpointStatus, bool) {
	for _, st := range set.Status() {
		if st.Name == addr {
			return st, true
		}
	}
	return discovery.EndpointStatus{}, false
}

// metricValue returns the value of the sample of name whose labels include
// the given name/value pairs.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labelPairs ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := labels.FromStrings(labelPairs...)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for _, l := range want {
				if have[l.Name] != l.Value {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no sample %s%v", name, want)
	return 0
}

// srvZone returns the records of a headless Service "sidecar" in namespace
// "monitoring" whose pods are the given servers.
func srvZone(pods ...*infoServer) []string {
	var records []string
	for i, p := range pods {
		host := fmt.Sprintf("sidecar-%d.sidecar.monitoring.svc.cluster.local.", i)
		records = append(records,
			fmt.Sprintf("_grpc._tcp.sidecar.monitoring.svc.cluster.local. 5 IN SRV 0 50 %s %s", p.port(), host),
			host+" 5 IN A 127.0.0.1",
		)
	}
	return records
}

func TestSetFollowsDNSSRV(t *testing.T) {
	var pods []*infoServer
	for i := range 3 {
		pods = append(pods, startInfoServer(t, fmt.Sprintf("pod-%d", i), "replica", fmt.Sprint(i)))
	}
	zone := dnstest.Start(t)
	zone.Set(srvZone(pods[:2]...)...)

	opts := discovery.Options{
		Endpoints: []string{"dnssrv+_grpc._tcp.sidecar"},
		Resolver: discovery.NewMiekgResolver(discovery.DNSConfig{
			Servers: []string{zone.Addr()},
			Search:  []string{"monitoring.svc.cluster.local", "svc.cluster.local"},
			Ndots:   5,
			Timeout: time.Second,
		}),
		DNSInterval:      300 * time.Millisecond,
		InfoInterval:     50 * time.Millisecond,
		InfoTimeout:      time.Second,
		UnhealthyTimeout: time.Minute,
	}
	set, reg := runSet(t, opts)
	within := opts.DNSInterval + opts.InfoTimeout + slack

	waitForStores(t, set, within, pods[0], pods[1])
	if !set.Ready() {
		t.Fatal("not Ready after the first round found the pods")
	}

	t.Log("scale up to 3 pods")
	zone.Set(srvZone(pods...)...)
	waitForStores(t, set, within, pods...)

	t.Log("scale down to 1 pod")
	zone.Set(srvZone(pods[0])...)
	waitForStores(t, set, within, pods[0])

	t.Log("DNS fails: the last good answer stays")
	errorsBefore := metricValue(t, reg, "thanos_query_store_apis_dns_failures_total")
	zone.SetServfail(true)
	wait.Until(t, 3*opts.DNSInterval+slack, "endpoint set", func() error {
		if got, want := storeAddrs(set), serverAddrs(pods[0]); !slices.Equal(got, want) {
			t.Fatalf("healthy stores changed to %q during SERVFAIL, want %q", got, want)
		}
		// Two failed rounds, so the first one's outcome has been applied.
		if n := metricValue(t, reg, "thanos_query_store_apis_dns_failures_total") - errorsBefore; n < 2 {
			return fmt.Errorf("%v failed lookups so far", n)
		}
		return nil
	})

	t.Log("DNS recovers")
	zone.SetServfail(false)
	zone.Set(srvZone(pods[1], pods[2])...)
	waitForStores(t, set, within, pods[1], pods[2])

	if n := metricValue(t, reg, "tandem_endpoint_info_duration_seconds"); n == 0 {
		t.Error("no Info call was observed by the latency histogram")
	}
}

func TestSetDNSAAndSRVNoA(t *testing.T) {
	a, noa := startInfoServer(t, "a"), startInfoServer(t, "noa")
	zone := dnstest.Start(t)
	zone.Set(
		"sidecar.example. 5 IN A 127.0.0.1",
		// localhost resolves through the system resolver when gRPC connects.
		"_grpc._tcp.noa.example. 5 IN SRV 0 50 "+noa.port()+" localhost.",
	)
	opts := discovery.Options{
		Endpoints:    []string{"dns+sidecar.example:" + a.port(), "dnssrvnoa+_grpc._tcp.noa.example."},
		Resolver:     discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{zone.Addr()}, Ndots: 1, Timeout: time.Second}),
		DNSInterval:  300 * time.Millisecond,
		InfoInterval: 50 * time.Millisecond,
	}
	set, _ := runSet(t, opts)
	within := opts.DNSInterval + opts.InfoTimeout + slack

	want := []string{"127.0.0.1:" + a.port(), "localhost:" + noa.port()}
	wait.Until(t, within, "endpoint set", func() error {
		if got := storeAddrs(set); !slices.Equal(got, want) {
			return fmt.Errorf("healthy stores %q, want %q", got, want)
		}
		return nil
	})

	// The names going away (NXDOMAIN) is an answer: a Service scaled to
	// zero has no endpoints.
	zone.Set()
	wait.Until(t, within, "endpoint set", func() error {
		if got := set.Status(); len(got) != 0 {
			return fmt.Errorf("endpoints %v remain after their names went away", got)
		}
		return nil
	})
}

func TestSetRetriesFirstLookupSoon(t *testing.T) {
	pod := startInfoServer(t, "pod")
	zone := dnstest.Start(t)
	zone.Set(srvZone(pod)...)
	zone.SetServfail(true)

	opts := discovery.Options{
		Endpoints:    []string{"dnssrv+_grpc._tcp.sidecar.monitoring.svc.cluster.local"},
		Resolver:     discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{zone.Addr()}, Ndots: 1, Timeout: time.Second}),
		DNSInterval:  time.Minute,
		InfoInterval: 50 * time.Millisecond,
	}
	set, _ := runSet(t, opts)
	wait.Until(t, slack, "endpoint set", func() error {
		if zone.ServfailCount() == 0 || !set.Ready() {
			return fmt.Errorf("first lookup not done: %d SERVFAILs, ready %v", zone.ServfailCount(), set.Ready())
		}
		return nil
	})
	if got := storeAddrs(set); len(got) != 0 {
		t.Fatalf("healthy stores %q with DNS failing", got)
	}

	zone.SetServfail(false)
	// Far less than the one-minute interval.
	waitForStores(t, set, 5*time.Second, pod)
}

func TestSetEndpointHealth(t *testing.T) {
	a := startInfoServer(t, "a", "replica", "a", "cluster", "eu")
	b := startInfoServer(t, "b", "replica", "b", "cluster", "eu")
	opts := discovery.Options{
		Endpoints:        []string{a.addr, b.addr},
		InfoInterval:     50 * time.Millisecond,
		InfoTimeout:      500 * time.Millisecond,
		UnhealthyTimeout: time.Second,
	}
	set, reg := runSet(t, opts)
	waitForStores(t, set, slack, a, b)

	t.Log("what an endpoint says of itself")
	stores := set.HealthyStores()
	ep := stores[slices.IndexFunc(stores, func(e *discovery.Endpoint) bool { return e.String() == a.addr })]
	if got, want := ep.LabelSets(), []labels.Labels{labels.FromStrings("cluster", "eu", "replica", "a")}; !slices.EqualFunc(got, want, labels.Equal) {
		t.Errorf("LabelSets = %v, want %v", got, want)
	}
	if mint, maxt := ep.TimeRange(); mint != 1000 || maxt != 2000 {
		t.Errorf("TimeRange = %d, %d; want 1000, 2000", mint, maxt)
	}
	if !ep.SupportsWithoutReplicaLabels() {
		t.Error("SupportsWithoutReplicaLabels = false, want true")
	}
	if got := ep.ComponentType(); got != "sidecar" {
		t.Errorf("ComponentType = %q, want sidecar", got)
	}
	resp, err := ep.LabelNames(context.Background(), &storepb.LabelNamesRequest{})
	if err != nil || !slices.Equal(resp.Names, []string{"a"}) {
		t.Fatalf("LabelNames through the endpoint's StoreClient = %v, %v; want server a", resp, err)
	}
	if up := metricValue(t, reg, "tandem_endpoint_up", "address", a.addr, "component", "sidecar"); up != 1 {
		t.Errorf("tandem_endpoint_up for a = %v, want 1", up)
	}

	t.Log("a stops: unhealthy at once")
	stopped := time.Now()
	a.stop()
	waitForStores(t, set, opts.InfoInterval+opts.InfoTimeout+slack, b)
	st, ok := statusOf(set, a.addr)
	if !ok || st.Healthy || st.LastError == nil || st.ComponentType != "sidecar" {
		t.Fatalf("status of stopped a = %+v (listed %v), want unhealthy with an error, still a sidecar", st, ok)
	}
	if up := metricValue(t, reg, "tandem_endpoint_up", "address", a.addr); up != 0 {
		t.Errorf("tandem_endpoint_up for a = %v, want 0", up)
	}
	if n := metricValue(t, reg, "tandem_endpoints", "state", "unhealthy"); n != 1 {
		t.Errorf("tandem_endpoints{state=unhealthy} = %v, want 1", n)
	}

	t.Log("after the unhealthy timeout a is dropped")
	wait.Until(t, opts.UnhealthyTimeout+slack, "endpoint set", func() error {
		if st, ok := statusOf(set, a.addr); ok && st.ComponentType == "sidecar" {
			return fmt.Errorf("a still listed as it was: %+v", st)
		}
		return nil
	})
	// Its last success was at most one check before it stopped.
	if elapsed := time.Since(stopped); elapsed < opts.UnhealthyTimeout-opts.InfoInterval {
		t.Fatalf("a dropped %s after it stopped, before the unhealthy timeout %s", elapsed, opts.UnhealthyTimeout)
	}
	if got := storeAddrs(set); !slices.Equal(got, serverAddrs(b)) {
		t.Fatalf("healthy stores %q, want only b", got)
	}

	t.Log("a comes back")
	a.restart()
	waitForStores(t, set, slack+opts.InfoInterval, a, b)
	if st, _ := statusOf(set, a.addr); !st.Healthy || st.LastError != nil || st.ComponentType != "sidecar" {
		t.Fatalf("status of restarted a = %+v, want healthy sidecar", st)
	}
}

func TestSetClosesEndpointsThatLeave(t *testing.T) {
	pods := []*infoServer{startInfoServer(t, "pod-0"), startInfoServer(t, "pod-1")}
	zone := dnstest.Start(t)
	zone.Set(srvZone(pods...)...)
	opts := discovery.Options{
		Endpoints:    []string{"dnssrv+_grpc._tcp.sidecar.monitoring.svc.cluster.local."},
		Resolver:     discovery.NewMiekgResolver(discovery.DNSConfig{Servers: []string{zone.Addr()}, Timeout: time.Second}),
		DNSInterval:  200 * time.Millisecond,
		InfoInterval: 50 * time.Millisecond,
		CloseGrace:   2 * time.Second,
	}
	set, _ := runSet(t, opts)
	waitForStores(t, set, opts.DNSInterval+slack, pods...)
	var leaving *discovery.Endpoint
	for _, e := range set.HealthyStores() {
		if e.String() == pods[1].addr {
			leaving = e
		}
	}

	zone.Set(srvZone(pods[0])...)
	waitForStores(t, set, opts.DNSInterval+slack, pods[0])

	// Queries that already hold the endpoint may finish within the grace...
	if _, err := leaving.LabelNames(context.Background(), &storepb.LabelNamesRequest{}); err != nil {
		t.Fatalf("LabelNames right after the endpoint left: %v", err)
	}
	// ... then its connection is closed.
	wait.Until(t, opts.CloseGrace+slack, "endpoint set", func() error {
		_, err := leaving.LabelNames(context.Background(), &storepb.LabelNamesRequest{})
		if status.Code(err) != codes.Canceled {
			return fmt.Errorf("LabelNames on the endpoint that left: %v, want a closed connection", err)
		}
		return nil
	})
}

func TestNewSetErrors(t *testing.T) {
	dir := t.TempDir()
	badYAML := writeFile(t, dir, "bad.yaml", "- targets: [a:1\n")
	badAddr := writeFile(t, dir, "badaddr.yaml", "- targets: ['dnsfoo+a:1']\n")
	for _, tc := range []struct {
		name string
		opts discovery.Options
		want []string
	}{
		{"bad endpoint", discovery.Options{Endpoints: []string{"a:1", "sidecar"}}, []string{"--endpoint", `"sidecar"`, "missing port"}},
		{"missing file", discovery.Options{FileSDFiles: []string{dir + "/missing.yaml"}}, []string{"--store.sd-files", "no file matches", "missing.yaml"}},
		{"bad YAML", discovery.Options{FileSDFiles: []string{badYAML}}, []string{"--store.sd-files", "bad.yaml"}},
		{"bad address in file", discovery.Options{FileSDFiles: []string{badAddr}}, []string{"--store.sd-files", "badaddr.yaml", `unknown scheme "dnsfoo+"`}},
		{"unknown resolver", discovery.Options{DNSResolver: "bind"}, []string{"--store.sd-dns-resolver", `"bind"`}},
		{"negative interval", discovery.Options{DNSInterval: -time.Second}, []string{"--store.sd-dns-interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := discovery.NewSet(tc.opts, nil, nil)
			if err == nil {
				t.Fatal("NewSet succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewSetRegistersMetricsOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := discovery.NewSet(discovery.Options{}, nil, reg); err != nil {
		t.Fatal(err)
	}
	// A second Set on the same registry would report the same series.
	if _, err := discovery.NewSet(discovery.Options{}, nil, reg); err == nil {
		t.Fatal("second NewSet on the same registry succeeded")
	}
}

// TestSetQueryAPIs checks what a distributed engine takes from Info: which
// endpoints serve the Query API, and the TSDBs behind each, as announced or,
// for a store that announces none, one per label set over its time range.
func TestSetQueryAPIs(t *testing.T) {
	sidecar := startInfoServer(t, "sidecar", "cluster", "c0", "replica", "a")
	leaf := startInfoServer(t, "leaf", "cluster", "c1", "replica", "a")
	leaf.mu.Lock()
	leaf.resp = &infopb.InfoResponse{
		ComponentType: "query",
		LabelSets:     leaf.resp.LabelSets,
		Store: &infopb.StoreInfo{MinTime: 1000, MaxTime: 2000, TsdbInfos: []infopb.TSDBInfo{
			{Labels: labelpb.ZLabelSet{Labels: []labelpb.ZLabel{{Name: "cluster", Value: "c1"}, {Name: "replica", Value: "a"}}}, MinTime: 1000, MaxTime: 2000},
			{Labels: labelpb.ZLabelSet{Labels: []labelpb.ZLabel{{Name: "cluster", Value: "c1"}, {Name: "replica", Value: "b"}}}, MinTime: 1500, MaxTime: 2000},
		}},
		Query: &infopb.QueryAPIInfo{},
	}
	leaf.mu.Unlock()
	set, _ := runSet(t, discovery.Options{Endpoints: []string{sidecar.addr, leaf.addr}, InfoInterval: 50 * time.Millisecond, InfoTimeout: 500 * time.Millisecond})
	waitForStores(t, set, slack, sidecar, leaf)

	apis := set.HealthyQueryAPIs()
	if len(apis) != 1 || apis[0].String() != leaf.addr || apis[0].QueryClient() == nil {
		t.Fatalf("Query APIs %v, want the leaf %s", apis, leaf.addr)
	}
	describe := func(e *discovery.Endpoint) []string {
		var out []string
		for _, ti := range e.TSDBInfos() {
			out = append(out, fmt.Sprint(ti.Labels.PromLabels(), ti.MinTime, ti.MaxTime))
		}
		return out
	}
	if got, want := describe(apis[0]), []string{`{cluster="c1", replica="a"} 1000 2000`, `{cluster="c1", replica="b"} 1500 2000`}; !slices.Equal(got, want) {
		t.Errorf("leaf TSDBs %q, want %q", got, want)
	}
	stores := set.HealthyStores()
	side := stores[slices.IndexFunc(stores, func(e *discovery.Endpoint) bool { return e.String() == sidecar.addr })]
	if side.ServesQueryAPI() {
		t.Error("the sidecar serves the Query API, it said not")
	}
	if got, want := describe(side), []string{`{cluster="c0", replica="a"} 1000 2000`}; !slices.Equal(got, want) {
		t.Errorf("sidecar TSDBs %q, want %q derived from its label set and time range", got, want)
	}
}
