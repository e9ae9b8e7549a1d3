package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/dnstest"
	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// manifestCase is the arguments one kind of published manifest gives
// Thanos's image, literally, and what the test rewrites in them: addresses
// (to loopback ports) and file paths, nothing else.
type manifestCase struct {
	source string
	args   []string
	// rewrite maps a literal address or path to its value here; the
	// placeholders {grpc} and {http} (or {grpc-port} and {http-port})
	// stand for the loopback addresses picked, {prometheus} for the
	// Prometheus's URL and {dir} for a temporary directory.
	rewrite map[string]string
	// files are written under {dir} before the start.
	files map[string]string
	// series is how many series count(http_requests_total) finds through
	// a query: the fixture's, or twice as many where the manifest's
	// replica labels are not the fixture's "replica".
	series int
}

// TestManifestSidecarArgs runs the sidecar arguments of each kind of
// manifest through `tandem`: the process starts, is healthy and ready, and
// a Thanos v0.42 querier reads its data.
func TestManifestSidecarArgs(t *testing.T) {
	prom := replicas(t, 1)[0]
	operatorClient := map[string]string{"prometheus.http-client-file.yaml": "tls_config:\n  insecure_skip_verify: true\n"}
	for _, tc := range []manifestCase{{
		// What the Prometheus Operator generates for spec.thanos with no
		// object storage: its own container, args only.
		source: "Prometheus Operator",
		args: []string{"sidecar", "--prometheus.url=http://localhost:9090/", "--grpc-address=:10901", "--http-address=:10902",
			"--prometheus.http-client-file=/etc/thanos/config/prometheus.http-client-file.yaml"},
		rewrite: map[string]string{"http://localhost:9090": "{prometheus}", ":10901": "{grpc}", ":10902": "{http}", "/etc/thanos/config": "{dir}"},
		files:   operatorClient,
	}, {
		// Older operators bound to the pod's IP, which the kubelet puts
		// in brackets: [$(POD_IP)]:10901.
		source: "Prometheus Operator, pod IP",
		args: []string{"sidecar", "--prometheus.url=http://localhost:9090/", "--grpc-address=[$(POD_IP)]:10901", "--http-address=[$(POD_IP)]:10902",
			"--prometheus.http-client-file=/etc/thanos/config/prometheus.http-client-file.yaml"},
		rewrite: map[string]string{"http://localhost:9090": "{prometheus}", "[$(POD_IP)]:10901": "[127.0.0.1]:{grpc-port}", "[$(POD_IP)]:10902": "[127.0.0.1]:{http-port}", "/etc/thanos/config": "{dir}"},
		files:   operatorClient,
	}, {
		// With spec.thanos.objectStorageConfig the operator passes the
		// Secret's key through an environment variable, which the kubelet
		// expands, and the TSDB's path.
		source: "Prometheus Operator, object storage",
		args: []string{"sidecar", "--prometheus.url=http://localhost:9090/", "--grpc-address=:10901", "--http-address=:10902",
			"--prometheus.http-client-file=/etc/thanos/config/prometheus.http-client-file.yaml",
			"--objstore.config=$(OBJSTORE_CONFIG)", "--tsdb.path=/prometheus"},
		rewrite: map[string]string{"http://localhost:9090": "{prometheus}", ":10901": "{grpc}", ":10902": "{http}", "/etc/thanos/config": "{dir}",
			"$(OBJSTORE_CONFIG)": "{type: FILESYSTEM, config: {directory: {dir}/bucket}}", "/prometheus": "{dir}"},
		files: operatorClient,
	}, {
		// kube-prometheus-stack passes prometheusSpec.thanos to the
		// operator; with its timeouts, log settings and min time set.
		source: "kube-prometheus-stack",
		args: []string{"sidecar", "--prometheus.url=http://localhost:9090/", "--grpc-address=:10901", "--http-address=:10902",
			"--log.level=info", "--log.format=logfmt", "--min-time=2025-01-01T00:00:00Z", "--prometheus.ready_timeout=10m",
			"--prometheus.get_config_timeout=30s", "--prometheus.get_config_interval=30s",
			"--prometheus.http-client-file=/etc/thanos/config/prometheus.http-client-file.yaml"},
		rewrite: map[string]string{"http://localhost:9090": "{prometheus}", ":10901": "{grpc}", ":10902": "{http}", "/etc/thanos/config": "{dir}"},
		files:   operatorClient,
	}, {
		// Thanos's quick tutorial, flag and value as separate arguments.
		source: "Thanos docs",
		args: []string{"sidecar", "--tsdb.path", "/var/prometheus", "--prometheus.url", "http://localhost:9090",
			"--http-address", "0.0.0.0:19191", "--grpc-address", "0.0.0.0:19090"},
		rewrite: map[string]string{"http://localhost:9090": "{prometheus}", "0.0.0.0:19090": "{grpc}", "0.0.0.0:19191": "{http}", "/var/prometheus": "{dir}"},
	}} {
		t.Run(tc.source, func(t *testing.T) {
			p := startManifestCase(t, tc, map[string]string{"{prometheus}": prom.URL()})
			thanos := e2etest.ThanosQuery(t, []string{p.GRPC})
			thanos.WaitHealthyStores(1, time.Minute)
			at := strconv.FormatInt(base.Add(time.Hour).Unix(), 10)
			r := e2etest.API(context.Background(), t, "http://"+thanos.HTTP, "/api/v1/query", url.Values{"query": {"count(http_requests_total)"}, "time": {at}})
			if v := e2etest.Vector(t, r); len(v) != 1 || v[0].Value[1] != strconv.Itoa(targets) {
				t.Fatalf("Thanos's querier read %v through the sidecar, want %d series", v, targets)
			}
		})
	}
}

// TestManifestQueryArgs runs the query arguments of each kind of manifest
// through `tandem`: the process starts, is healthy and ready, and answers
// PromQL over the sidecars, which it finds as the manifest says.
func TestManifestQueryArgs(t *testing.T) {
	var sidecars []string
	for _, p := range replicas(t, 2) {
		sidecars = append(sidecars, e2etest.Sidecar(t, p.URL()).GRPC)
	}
	// kube-thanos finds its stores by SRV records, here served by a real
	// DNS server on loopback; the other Services it names do not exist.
	zone := dnstest.Start(t)
	var records []string
	for _, s := range sidecars {
		_, port, _ := strings.Cut(s, ":")
		records = append(records, "_grpc._tcp.thanos-sidecar.thanos. 5 IN SRV 0 0 "+port+" localhost.",
			"_grpc._tcp.thanos-sidecar.default.svc.cluster.local. 5 IN SRV 0 0 "+port+" localhost.")
	}
	zone.Set(append(records, "localhost. 5 IN A 127.0.0.1")...)
	resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("nameserver "+zone.Addr()+"\noptions timeout:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The addresses a manifest leaves at Thanos's defaults are given
	// here, on loopback; and the query resolves DNS through the test's
	// server (--store.sd-dns-resolv-conf), since the cluster's is not here.
	loopback := []string{"--grpc-address={grpc}", "--http-address={http}"}
	dns := "--store.sd-dns-resolv-conf=" + resolvConf
	for _, tc := range []manifestCase{{
		// The operator's example/thanos query Deployment.
		source: "Prometheus Operator",
		args: append([]string{"query", "--log.level=debug", "--query.replica-label=prometheus_replica", "--query.replica-label=thanos_ruler_replica",
			"--endpoint=dnssrv+_grpc._tcp.thanos-sidecar.default.svc.cluster.local", "--endpoint=dnssrv+_grpc._tcp.thanos-ruler.default.svc.cluster.local", dns}, loopback...),
		series: 2 * targets,
	}, {
		source: "kube-thanos",
		args: []string{"query", "--grpc-address=0.0.0.0:10901", "--http-address=0.0.0.0:9090", "--log.level=info", "--log.format=logfmt",
			"--query.replica-label=prometheus_replica", "--query.replica-label=rule_replica",
			"--endpoint=dnssrv+_grpc._tcp.thanos-sidecar.thanos", "--endpoint=dnssrv+_grpc._tcp.thanos-store.thanos:10901",
			"--query.timeout=5m", "--query.lookback-delta=15m", "--query.auto-downsampling",
			"--tracing.config=\"config\":\n  \"sampler_param\": 2\n  \"sampler_type\": \"ratelimiting\"\n  \"service_name\": \"thanos-query\"\n\"type\": \"JAEGER\"",
			dns},
		rewrite: map[string]string{"0.0.0.0:10901": "{grpc}", "0.0.0.0:9090": "{http}"},
		series:  2 * targets,
	}, {
		source: "Bitnami",
		args: []string{"query", "--log.level=info", "--log.format=logfmt", "--grpc-address=0.0.0.0:10901", "--http-address=0.0.0.0:10902",
			"--query.replica-label=replica", "--store.sd-files=/conf/sd/servicediscovery.yml", "--alert.query-url=http://thanos-query:9090"},
		rewrite: map[string]string{"0.0.0.0:10901": "{grpc}", "0.0.0.0:10902": "{http}", "/conf/sd": "{dir}"},
		files:   map[string]string{"servicediscovery.yml": "- targets:\n  - " + sidecars[0] + "\n  - " + sidecars[1] + "\n"},
		series:  targets,
	}, {
		source: "Thanos docs",
		args: []string{"query", "--http-address", "0.0.0.0:19192", "--grpc-address", "0.0.0.0:19092", "--endpoint", "1.2.3.4:19090", "--endpoint", "1.2.3.5:19090",
			"--query.replica-label", "replica", "--query.replica-label", "replicaX"},
		rewrite: map[string]string{"0.0.0.0:19192": "{http}", "0.0.0.0:19092": "{grpc}", "1.2.3.4:19090": sidecars[0], "1.2.3.5:19090": sidecars[1]},
		series:  targets,
	}} {
		t.Run(tc.source, func(t *testing.T) {
			p := startManifestCase(t, tc, nil)
			p.WaitHealthyStores(len(sidecars), time.Minute)
			at := strconv.FormatInt(base.Add(time.Hour).Unix(), 10)
			r := e2etest.API(context.Background(), t, "http://"+p.HTTP, "/api/v1/query", url.Values{"query": {"count(http_requests_total)"}, "time": {at}})
			if v := e2etest.Vector(t, r); len(v) != 1 || v[0].Value[1] != strconv.Itoa(tc.series) {
				t.Fatalf("query answered %v, want %d series", v, tc.series)
			}
		})
	}
}

// startManifestCase rewrites the case's arguments, starts `tandem` with
// them and waits until it is healthy and ready.
func startManifestCase(t *testing.T, tc manifestCase, extra map[string]string) *e2etest.Process {
	t.Helper()
	addrs := promtest.FreeAddrs(t, 2)
	dir := t.TempDir()
	for name, content := range tc.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	placeholders := map[string]string{"{grpc}": addrs[0], "{http}": addrs[1], "{dir}": dir}
	for _, k := range []string{"grpc", "http"} {
		_, port, _ := strings.Cut(placeholders["{"+k+"}"], ":")
		placeholders["{"+k+"-port}"] = port
	}
	for k, v := range extra {
		placeholders[k] = v
	}
	args := make([]string, len(tc.args))
	for i, a := range tc.args {
		for k, v := range placeholders {
			a = strings.ReplaceAll(a, k, v)
		}
		for from, to := range tc.rewrite {
			for k, v := range placeholders {
				to = strings.ReplaceAll(to, k, v)
			}
			a = replaceAddress(a, from, to)
		}
		args[i] = a
	}
	grpcAddr, httpAddr := addrs[0], addrs[1]
	p := e2etest.Start(t, "tandem", args...)
	p.GRPC, p.HTTP = grpcAddr, httpAddr
	for _, probe := range []string{"/-/healthy", "/-/ready"} {
		p.WaitReady("http://"+httpAddr+probe, time.Minute)
	}
	t.Logf("tandem %s", strings.Join(args, " "))
	return p
}

// replaceAddress replaces from in arg when it is the whole value of the
// argument (after "--flag=" or alone) or its start, so that ":10901" does
// not match inside "1.2.3.4:10901".
func replaceAddress(arg, from, to string) string {
	flag, value, isFlag := strings.Cut(arg, "=")
	if !isFlag || !strings.HasPrefix(arg, "--") {
		flag, value = "", arg
	}
	if !strings.HasPrefix(value, from) {
		return arg
	}
	value = to + strings.TrimPrefix(value, from)
	if flag == "" {
		return value
	}
	return flag + "=" + value
}
