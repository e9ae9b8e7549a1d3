package bench

import (
	"encoding/json"
	"fmt"
	"time"
)

// Results is everything one run measured; it is written as JSON.
type Results struct {
	Command string          `json:"command"`
	Started time.Time       `json:"started"`
	Machine Machine         `json:"machine"`
	Dataset DatasetInfo     `json:"dataset"`
	Queries []QueryResult   `json:"queries"`
	Thanos  []ThanosResult  `json:"thanos,omitempty"`
	Sidecar []SidecarResult `json:"sidecar"`
	// Clusters are the rows of a root over one leaf query per cluster.
	Clusters []ClusterResult `json:"clusters,omitempty"`
	// Stores are the rows of a query over many stores.
	Stores  []StoresResult `json:"stores,omitempty"`
	Micro   []MicroResult  `json:"micro,omitempty"`
	Targets []Target       `json:"targets"`
	Profile *Profile       `json:"profile,omitempty"`
}

// Machine is where the numbers were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// DatasetInfo describes the data both replicas serve.
type DatasetInfo struct {
	Replicas          int     `json:"replicas"`
	CounterSeries     int     `json:"counter_series"`
	HistogramSeries   int     `json:"histogram_series"`
	SeriesPerReplica  int     `json:"series_per_replica"`
	Length            string  `json:"length"`
	Interval          string  `json:"interval"`
	SamplesPerReplica int64   `json:"samples_per_replica"`
	BlockBytes        int64   `json:"block_bytes_per_replica"`
	HeadBytes         int64   `json:"head_bytes_per_replica"` // its WAL and m-mapped chunks
	Cached            bool    `json:"cached"`
	GenerateSeconds   float64 `json:"generate_seconds,omitempty"`
	Dir               string  `json:"dir"`
}

func (d Dataset) info() DatasetInfo {
	return DatasetInfo{
		Replicas:          len(replicaNames),
		CounterSeries:     d.Series,
		HistogramSeries:   d.HistogramSeries(),
		SeriesPerReplica:  d.Series + d.HistogramSeries(),
		Length:            d.Length.String(),
		Interval:          d.Interval.String(),
		SamplesPerReplica: d.Samples(),
	}
}

func (i DatasetInfo) describe() string {
	return fmt.Sprintf("%d replicas × %d series (%d counters, %d histogram buckets) × %s at %s = %.1fM samples per replica",
		i.Replicas, i.SeriesPerReplica, i.CounterSeries, i.HistogramSeries, i.Length, i.Interval, float64(i.SamplesPerReplica)/1e6)
}

// Latency summarises the timed runs of one query.
type Latency struct {
	Median float64 `json:"median_seconds"`
	P90    float64 `json:"p90_seconds"`
	Runs   int     `json:"runs"`
}

// QueryResult is one query shape over one range, asked of the query (over
// both sidecars, deduplicating) and of one Prometheus directly.
type QueryResult struct {
	Shape string `json:"shape"`
	Expr  string `json:"expr"`
	// Window is "6h / 15s" for a range query, "instant" for one at the end.
	Window      string `json:"window"`
	Engine      string `json:"promql_engine"`
	Compression string `json:"grpc_compression"`
	// ResultSeries is the number of series in the answer, equal for both.
	ResultSeries  int     `json:"result_series"`
	ResponseBytes int     `json:"response_bytes"`
	Tandem        Latency `json:"tandem"`
	Prometheus    Latency `json:"prometheus"`
	// Ratio is Tandem's median over Prometheus's.
	Ratio float64 `json:"ratio"`
	// Peak resident memory of processes started for this query alone;
	// QueryStartRSS is the query's before its first request.
	QueryStartRSS  int64    `json:"query_start_rss_bytes"`
	QueryPeakRSS   int64    `json:"query_peak_rss_bytes"`
	SidecarPeakRSS [2]int64 `json:"sidecar_peak_rss_bytes"`
	// ReadBytes is what both sidecars read per query, through remote read
	// and from Prometheus's blocks.
	ReadBytes int64 `json:"read_bytes_per_query"`
	// PrometheusCPU is the CPU time Prometheus b spends per query
	// answering its sidecar.
	PrometheusCPU float64 `json:"prometheus_b_cpu_seconds_per_query"`
	// Agreement compares Tandem's answer, deduplicated, with the one
	// Prometheus answered from its replica alone.
	Agreement Agreement `json:"agreement_with_prometheus"`

	row    Row
	answer json.RawMessage
}

func (q QueryResult) label() string { return q.row.String() }

// SidecarResult is one sidecar relaying every counter series of a range.
type SidecarResult struct {
	Range           string  `json:"range"`
	Compression     string  `json:"grpc_compression"`
	Series          int     `json:"series"`
	Took            Latency `json:"took"`
	SeriesPerSecond float64 `json:"series_per_second"`
	BytesPerSecond  float64 `json:"bytes_per_second"`
	Bytes           int64   `json:"bytes"`
	WireBytes       int64   `json:"wire_bytes"`
	PeakRSS         int64   `json:"peak_rss_bytes"`
}

// MicroResult is one Go benchmark's line: its metrics by unit.
type MicroResult struct {
	Name    string             `json:"name"`
	Metrics map[string]float64 `json:"metrics"`
}

// Target is one goal the numbers are checked against; checked, not
// enforced.
type Target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Profile names the profiles taken on the shape furthest behind
// Prometheus.
type Profile struct {
	Query         string `json:"query"`
	CPU           string `json:"cpu"`
	Allocs        string `json:"allocs"`
	Metrics       string `json:"metrics"` // the query's /metrics afterwards
	SidecarCPU    string `json:"sidecar_cpu"`
	SidecarAllocs string `json:"sidecar_allocs"`
	PrometheusCPU string `json:"prometheus_cpu"`
}
