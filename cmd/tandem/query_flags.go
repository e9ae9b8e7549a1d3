package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tandem-metrics/tandem/pkg/api"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// queryCmd is `tandem query`: it evaluates PromQL over the Store API servers
// it discovers, merging the replicas of HA pairs, and answers the
// Prometheus HTTP API. It also serves the Store API itself, so queriers
// stack.
type queryCmd struct {
	server          *serverFlags
	endpoints       []string
	sdFiles         []string
	sdInterval      time.Duration
	sdDNSInterval   time.Duration
	dnsResolver     string
	resolvConf      string
	infoTimeout     time.Duration
	unhealthy       time.Duration
	replicaLabels   []string
	timeout         time.Duration
	maxConcurrent   int
	maxSelects      int
	twoPhaseSpan    time.Duration
	lookbackDelta   time.Duration
	maxSamples      int
	partialResponse bool
	// sourcesPartial are Thanos's per-endpoint defaults of partial_response.
	sourcesPartial  api.SourcesPartialResponse
	responseTimeout time.Duration
	maxSeries       int
	requestSamples  int
	routePrefix     string
	externalPrefix  string
	clientTLS       store.ClientTLS
	grpcCompression string
	endpointGroups  []string
	engine          string
	mode            string
	partitionLabels []string
}

// registerQuery declares the flags with Thanos's names and defaults, so a
// manifest written for a Thanos querier runs unchanged.
func registerQuery(app *kingpin.CmdClause) *queryCmd {
	cfg := &queryCmd{}
	cfg.server = registerServerFlags(app, "Listen host:port for the Store API this querier serves.")
	app.Flag("endpoint", "Address of a Store API server: host:port, or dns+/dnssrv+/dnssrvnoa+ name (repeated).").
		PlaceHolder("<endpoint>").StringsVar(&cfg.endpoints)
	// Removed from Thanos, still in published manifests.
	app.Flag("store", "Deprecated alias of --endpoint (repeated).").
		Hidden().StringsVar(&cfg.endpoints)
	// Thanos adds a rules API server as one more endpoint; its Store API is
	// queried like any other.
	app.Flag("rule", "Deprecated alias of --endpoint for rules API servers (repeated).").
		Hidden().StringsVar(&cfg.endpoints)
	app.Flag("endpoint-group", "DNS name of a group of equivalent Store API servers to query one of, round-robin; not supported yet, so refused (repeated).").
		PlaceHolder("<endpoint-group>").StringsVar(&cfg.endpointGroups)
	app.Flag("store.sd-files", "Path to file SD files with endpoints; globs allowed (repeated).").
		PlaceHolder("<path>").StringsVar(&cfg.sdFiles)
	app.Flag("store.sd-interval", "Refresh interval to re-read file SD files.").
		Default("5m").DurationVar(&cfg.sdInterval)
	app.Flag("store.sd-dns-interval", "Interval between DNS resolutions.").
		Default("30s").DurationVar(&cfg.sdDNSInterval)
	app.Flag("store.sd-dns-resolver", "DNS resolver for dns+ addresses: miekgdns or golang.").
		Default("miekgdns").EnumVar(&cfg.dnsResolver, "miekgdns", "golang")
	// For tests: a resolv.conf naming a DNS server on a loopback port.
	app.Flag("store.sd-dns-resolv-conf", "resolv.conf of the miekgdns resolver; a nameserver may be host:port.").
		Hidden().Default("/etc/resolv.conf").StringVar(&cfg.resolvConf)
	app.Flag("endpoint.info-timeout", "Timeout of one Info call to an endpoint.").
		Default("5s").DurationVar(&cfg.infoTimeout)
	app.Flag("store.unhealthy-timeout", "How long an unhealthy endpoint stays listed before it is dropped.").
		Default("5m").DurationVar(&cfg.unhealthy)
	app.Flag("query.replica-label", "Label that tells replicas apart; series differing only by it are merged (repeated).").
		StringsVar(&cfg.replicaLabels)
	app.Flag("query.timeout", "Maximum time to evaluate a query.").
		Default("2m").DurationVar(&cfg.timeout)
	app.Flag("query.max-concurrent", "Maximum number of queries evaluated at once; more wait.").
		Default("20").IntVar(&cfg.maxConcurrent)
	app.Flag("query.max-concurrent-select", "Maximum number of selections of one query that read from the stores at once; more wait.").
		Default("4").IntVar(&cfg.maxSelects)
	app.Flag("query.two-phase-select-span", "Selections of Prometheus's engine that span longer than this ask the stores for their series' labels first, then read their samples as PromQL evaluates each series, so that a query does not hold every series' samples at once; 0 reads every selection in one call.").
		Default("2h").DurationVar(&cfg.twoPhaseSpan)
	app.Flag("query.lookback-delta", "How far back an instant selector looks for a sample.").
		Default("5m").DurationVar(&cfg.lookbackDelta)
	app.Flag("query.max-samples", "Maximum samples one query may load into memory at once.").
		Default("50000000").IntVar(&cfg.maxSamples)
	app.Flag("query.partial-response", "Answer with the stores that work, warning about those that fail, unless a request says otherwise.").
		Default("true").BoolVar(&cfg.partialResponse)
	for _, f := range []struct {
		name, what string
		dst        *bool
	}{
		{"rule.partial-response", "/api/v1/rules and /api/v1/alerts", &cfg.sourcesPartial.Rules},
		{"target.partial-response", "/api/v1/targets and /api/v1/targets/metadata", &cfg.sourcesPartial.Targets},
		{"metric-metadata.partial-response", "/api/v1/metadata", &cfg.sourcesPartial.Metadata},
		{"exemplar.partial-response", "/api/v1/query_exemplars", &cfg.sourcesPartial.Exemplars},
	} {
		app.Flag(f.name, "Answer "+f.what+" with the stores that work unless a request says otherwise; --no-"+f.name+" to disable.").
			Hidden().Default("true").BoolVar(f.dst)
	}
	app.Flag("store.response-timeout", "How long a store may stay silent during a query before it counts as failed; 0 disables.").
		Default("0ms").DurationVar(&cfg.responseTimeout)
	app.Flag("store.limits.request-series", "Maximum series one query may read from the stores; more fails the query. 0 means no limit.").
		Default("0").IntVar(&cfg.maxSeries)
	app.Flag("store.limits.request-samples", "Maximum samples one query may read from the stores, counted in the chunks as they arrive; more fails the query. 0 means no limit.").
		Default("0").IntVar(&cfg.requestSamples)
	app.Flag("web.route-prefix", "Prefix of the HTTP endpoints; defaults to --web.external-prefix.").
		Default("").StringVar(&cfg.routePrefix)
	app.Flag("web.external-prefix", "Static prefix of all HTML links and redirects, for serving behind a reverse proxy.").
		Default("").StringVar(&cfg.externalPrefix)
	app.Flag("grpc-client-tls-secure", "Use TLS when talking to the Store API endpoints.").
		Default("false").BoolVar(&cfg.clientTLS.Secure)
	app.Flag("grpc-client-tls-skip-verify", "Do not verify the endpoints' certificates.").
		Default("false").BoolVar(&cfg.clientTLS.SkipVerify)
	app.Flag("grpc-client-tls-cert", "Client certificate for mutual TLS with the endpoints.").
		Default("").StringVar(&cfg.clientTLS.CertFile)
	app.Flag("grpc-client-tls-key", "Key of the client certificate.").
		Default("").StringVar(&cfg.clientTLS.KeyFile)
	app.Flag("grpc-client-tls-ca", "CA to verify the endpoints' certificates against; empty uses the system's.").
		Default("").StringVar(&cfg.clientTLS.CAFile)
	app.Flag("grpc-client-server-name", "Server name to verify the endpoints' certificates against.").
		Default("").StringVar(&cfg.clientTLS.ServerName)
	app.Flag("grpc-compression", "Compression of the gRPC calls to the Store API endpoints, requests and answers: snappy or none.").
		Default("none").EnumVar(&cfg.grpcCompression, "none", store.SnappyCompression)
	app.Flag("grpc-client-tls-min-version", "Lowest TLS version spoken with the endpoints: 1.0, 1.1, 1.2 or 1.3.").
		Default("1.3").EnumVar(&cfg.clientTLS.MinVersion, "1.0", "1.1", "1.2", "1.3")
	app.Flag("query.promql-engine", "Default PromQL engine: prometheus or thanos (Thanos's promql-engine; what it does not implement falls back to prometheus).").
		Default("prometheus").EnumVar(&cfg.engine, "prometheus", "thanos")
	app.Flag("query.mode", "PromQL query mode: local, or distributed (Thanos's engine pushes what it can down to the endpoints that serve the Query API).").
		Default("local").EnumVar(&cfg.mode, "local", "distributed")
	app.Flag("query.partition-label", "In distributed mode, an external label that tells the endpoints apart (repeated); empty uses all but the replica labels.").
		StringsVar(&cfg.partitionLabels)
	cfg.acceptThanosOnlyFlags(app)
	return cfg
}

// acceptThanosOnlyFlags declares Thanos's query flags that change nothing
// here, so that its manifests run unchanged. None of them loses data or
// weakens security when it has no effect.
func (cfg *queryCmd) acceptThanosOnlyFlags(app *kingpin.CmdClause) {
	// Links from alerts to this query; the query has no alerts of its own.
	app.Flag("alert.query-url", "The external URL of this query, for alerts' links; accepted for Thanos's manifests.").String()
	// Every store here serves raw data, which answers correctly at every
	// resolution; with a Thanos store gateway it is only slower.
	app.Flag("query.auto-downsampling", "Accepted for Thanos's manifests; every query reads raw data.").Default("false").Bool()
	// The UI's links are relative, so it works under any prefix a reverse
	// proxy strips, whatever it sends.
	app.Flag("web.prefix-header", "Accepted for Thanos's manifests; the UI's links are relative, so it works under any prefix.").String()
	app.Flag("web.disable-cors", "Accepted for Thanos's manifests.").Default("false").Bool()
	for _, q := range []string{"request-duration-seconds", "request-samples", "request-series-seconds"} {
		app.Flag("query.telemetry."+q+"-quantiles", "Accepted for Thanos's manifests: buckets of a Thanos histogram this query does not export (repeated).").Float64List()
	}
}

// validate checks what kingpin cannot, naming the flag.
func (c *queryCmd) validate() error {
	switch {
	case len(c.endpointGroups) > 0:
		return fmt.Errorf("--endpoint-group %s: querying one server of a group round-robin is not supported yet; list each server with --endpoint (a group's servers hold the same data, so --endpoint=dns+ over them would read it twice)", c.endpointGroups[0])
	case c.timeout <= 0:
		return fmt.Errorf("--query.timeout: must be positive, got %s", c.timeout)
	case c.maxConcurrent <= 0:
		return fmt.Errorf("--query.max-concurrent: must be positive, got %d", c.maxConcurrent)
	case c.maxSelects <= 0:
		return fmt.Errorf("--query.max-concurrent-select: must be positive, got %d", c.maxSelects)
	case c.twoPhaseSpan < 0:
		return fmt.Errorf("--query.two-phase-select-span: must not be negative, got %s", c.twoPhaseSpan)
	case c.lookbackDelta <= 0:
		return fmt.Errorf("--query.lookback-delta: must be positive, got %s", c.lookbackDelta)
	case c.maxSamples <= 0:
		return fmt.Errorf("--query.max-samples: must be positive, got %d", c.maxSamples)
	case c.maxSeries < 0:
		return fmt.Errorf("--store.limits.request-series: must not be negative, got %d", c.maxSeries)
	case c.requestSamples < 0:
		return fmt.Errorf("--store.limits.request-samples: must not be negative, got %d", c.requestSamples)
	case c.responseTimeout < 0:
		return fmt.Errorf("--store.response-timeout: must not be negative, got %s", c.responseTimeout)
	}
	for _, p := range []struct{ flag, value string }{
		{"--web.route-prefix", c.routePrefix},
		{"--web.external-prefix", c.externalPrefix},
	} {
		if p.value != "" && !strings.HasPrefix(p.value, "/") {
			return fmt.Errorf("%s: must start with /, got %q", p.flag, p.value)
		}
	}
	for _, l := range c.replicaLabels {
		if l == "" {
			return fmt.Errorf("--query.replica-label: must not be empty")
		}
	}
	for _, l := range c.partitionLabels {
		if l == "" || slices.Contains(c.replicaLabels, l) {
			return fmt.Errorf("--query.partition-label=%q: must be a label other than the replica labels", l)
		}
	}
	return nil
}

// prefix is the path every HTTP endpoint is served under.
func (c *queryCmd) prefix() string {
	p := c.routePrefix
	if p == "" {
		p = c.externalPrefix
	}
	return strings.TrimRight(p, "/")
}
