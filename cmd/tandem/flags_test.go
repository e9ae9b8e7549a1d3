package main

import (
	"strings"
	"testing"
)

// buildArgs parses `tandem args...` and builds it, listening on loopback;
// the listeners are closed again.
func buildArgs(t *testing.T, args ...string) error {
	t.Helper()
	a := newApp("tandem")
	a.Terminate(nil)
	name, err := a.Parse(args)
	if err != nil {
		return err
	}
	d, _, err := a.build(name)
	if err != nil {
		return err
	}
	d.close()
	return nil
}

// TestThanosFlagsAccepted parses what Thanos's manifests pass, in every
// form kingpin and Thanos take, and builds the components from it.
func TestThanosFlagsAccepted(t *testing.T) {
	for _, args := range [][]string{
		{"sidecar", "--prometheus.url=http://127.0.0.1:1", "--grpc-address=[127.0.0.1]:0", "--http-address=[127.0.0.1]:0",
			"--tsdb.path=/prometheus", "--prometheus.ready_timeout=10m", "--prometheus.get_config_interval=30s", "--prometheus.get_config_timeout=5s",
			"--prometheus.http-client={tls_config: {insecure_skip_verify: true}}", "--min-time=-2h", "--log.level", "debug", "--log.format=json",
			"--reloader.watch-interval=3m", "--objstore.config=", "--no-shipper.upload-compacted", "--reloader.method=http"},
		{"sidecar", "--prometheus.url=http://127.0.0.1:1", "--grpc-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--tsdb.path=/prometheus",
			"--objstore.config={type: FILESYSTEM, config: {directory: /tmp/bucket}}", "--shipper.upload-compacted", "--shipper.ignore-unequal-block-size",
			"--shipper.allow-out-of-order-uploads", "--shipper.skip-corrupted-blocks", "--shipper.meta-file-name=thanos.shipper.json",
			"--shipper.upload-concurrency=4", "--hash-func=SHA256"},
		{"sidecar", "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--prometheus.url", "http://127.0.0.1:1",
			"--min-time=2024-01-01T00:00:00Z", "--grpc-server-max-connection-age=30m"},
		{"query", "--grpc-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--log.level=debug", "--log.format=logfmt",
			"--query.replica-label=prometheus_replica", "--query.replica-label=rule_replica", "--query.timeout=5m", "--query.lookback-delta=15m",
			"--query.auto-downsampling", "--store=dnssrv+_grpc._tcp.thanos-sidecar.thanos", "--endpoint=dnssrv+_grpc._tcp.thanos-store.thanos:10901",
			"--rule=127.0.0.1:10999", "--alert.query-url=http://thanos-query:9090", "--query.promql-engine=prometheus",
			"--query.telemetry.request-duration-seconds-quantiles=0.1", "--query.telemetry.request-duration-seconds-quantiles=1",
			"--query.telemetry.request-samples-quantiles=100", "--query.telemetry.request-series-seconds-quantiles=10",
			"--web.external-prefix=/thanos", "--web.prefix-header=X-Forwarded-Prefix", "--store.sd-dns-resolver=golang",
			"--grpc-client-tls-min-version=1.2", "--no-rule.partial-response", "--target.partial-response",
			"--metric-metadata.partial-response", "--no-exemplar.partial-response"},
		{"query", "--grpc-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--query.promql-engine=thanos"},
		{"query", "--grpc-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--query.mode=distributed", "--query.partition-label=cluster",
			"--query.replica-label=replica", "--endpoint=127.0.0.1:10901"},
	} {
		t.Run(args[0], func(t *testing.T) {
			if err := buildArgs(t, args...); err != nil {
				t.Fatalf("%q: %v", args, err)
			}
		})
	}
}

// TestRefusedFlags checks that a flag Tandem cannot honour stops the start
// with a line saying why.
func TestRefusedFlags(t *testing.T) {
	listen := []string{"--grpc-address=127.0.0.1:0", "--http-address=127.0.0.1:0"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sidecar", "--objstore.config=type: S4"}, "--objstore.config: bucket with type S4 is not supported"},
		{[]string{"sidecar", "--objstore.config={type: FILESYSTEM, config: {directory: /x}, prefx: a}"}, "--objstore.config: parsing config YAML file: yaml: unmarshal errors: line 1: field prefx not found"},
		{[]string{"sidecar", "--objstore.config=type: S3"}, "--objstore.config: create S3 client"},
		{[]string{"sidecar", "--objstore.config-file=/nonexistent/objstore.yaml"}, "--objstore.config-file: open /nonexistent/objstore.yaml"},
		{[]string{"sidecar", "--objstore.config=type: $(TANDEM_UNSET_BUCKET_TYPE)"}, "TANDEM_UNSET_BUCKET_TYPE"},
		{[]string{"sidecar", "--hash-func=MD5"}, "enum value must be one of SHA256"},
		{[]string{"sidecar", "--prometheus.http-client={tls_config: {insecure_skip_verfy: true}}"}, "insecure_skip_verfy"},
		{[]string{"sidecar", "--prometheus.http-client=a: b", "--prometheus.http-client-file=/x"}, "give one, not both"},
		{[]string{"sidecar", "--prometheus.http-client={tls_config: {ca_file: /nonexistent}}"}, "tls_config"},
		{[]string{"sidecar", "--grpc-server-tls-curves=P256"}, `unknown curve "P256"`},
		{[]string{"query", "--endpoint-group=store:10901"}, "--endpoint-group store:10901: querying one server of a group"},
		{[]string{"query", "--query.mode=distributed", "--query.replica-label=replica", "--query.partition-label=replica"}, `--query.partition-label="replica": must be a label other than the replica labels`},
		{[]string{"query", "--query.mode=sharded"}, "must be one of local,distributed"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := buildArgs(t, append(tc.args[:1:1], append(listen, tc.args[1:]...)...)...)
			if err == nil || !strings.Contains(oneLine(err), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if strings.Contains(oneLine(err), "\n") {
				t.Errorf("error spans lines: %q", oneLine(err))
			}
		})
	}
}
