package bench

import (
	"fmt"
	"strings"
)

// Goals the numbers are held against. They are reported, not enforced: a
// busy machine must not fail a build.
const (
	maxLatencyRatio  = 1.0 // query median over Prometheus's
	maxThanosMemory  = 0.5 // query peak RSS over Thanos's query's
	maxSidecarGrowth = 1.5 // sidecar peak RSS for a 10x answer over a 1x answer
	maxDedupCost     = 2.0 // dedup ns/sample over the query's own XOR decoding of both replicas
)

// checkTargets holds the results against the goals.
func checkTargets(res *Results) []Target {
	return []Target{
		latencyTarget(res.Queries),
		thanosMemoryTarget(res.Queries, res.Thanos),
		sidecarTarget(res.Sidecar, res.Micro),
		queryRSSTarget(res.Queries),
		dedupTarget(res.Micro),
		allocTarget(res.Micro),
	}
}

func latencyTarget(qs []QueryResult) Target {
	t := Target{Name: "every row no slower than one Prometheus answering the same query over one replica"}
	t.Met, t.Measured = byEngine(qs, func(q QueryResult) (float64, bool) {
		return q.Ratio, q.Compression == "none"
	}, maxLatencyRatio, func(q QueryResult, v float64) string { return fmt.Sprintf("%.2fx (%s)", v, q.label()) })
	return t
}

// thanosMemoryTarget holds what each query's memory grows by while it
// answers, over the floor it started from, against Thanos's: the floors
// are mostly the binaries' code and data (both link every object storage
// client) and do not grow with what is queried. Peaks are reported beside.
func thanosMemoryTarget(qs []QueryResult, ts []ThanosResult) Target {
	t := Target{Name: fmt.Sprintf("query peak RSS over its floor at most %.1fx of Thanos's query's on every row", maxThanosMemory)}
	thanos := map[string]ThanosResult{}
	for _, th := range ts {
		thanos[th.Shape+", "+th.Window] = th
	}
	t.Met, t.Measured = byEngine(qs, func(q QueryResult) (float64, bool) {
		th, ok := thanos[q.Shape+", "+q.Window]
		return float64(q.QueryPeakRSS-q.QueryStartRSS) / float64(max(th.QueryPeakRSS-th.QueryStartRSS, 1)), q.Compression == "none" && ok && th.QueryStartRSS > 0
	}, maxThanosMemory, func(q QueryResult, v float64) string {
		th := thanos[q.Shape+", "+q.Window]
		return fmt.Sprintf("%.2fx (%s, %s over a floor of %s against %s over %s; peaks %.2fx)", v, q.label(),
			mib(q.QueryPeakRSS-q.QueryStartRSS), mib(q.QueryStartRSS), mib(th.QueryPeakRSS-th.QueryStartRSS), mib(th.QueryStartRSS),
			float64(q.QueryPeakRSS)/float64(max(th.QueryPeakRSS, 1)))
	})
	return t
}

// byEngine holds every row's value against bound, engine by engine: met if
// every row of some engine is within it.
func byEngine(qs []QueryResult, value func(QueryResult) (float64, bool), bound float64, describe func(QueryResult, float64) string) (bool, string) {
	type tally struct {
		n, within int
		worst     float64
		worstRow  QueryResult
	}
	var engines []string
	tallies := map[string]*tally{}
	for _, q := range qs {
		v, ok := value(q)
		if !ok {
			continue
		}
		tl, seen := tallies[q.Engine]
		if !seen {
			tl = &tally{}
			tallies[q.Engine] = tl
			engines = append(engines, q.Engine)
		}
		tl.n++
		if v <= bound {
			tl.within++
		}
		if v > tl.worst {
			tl.worst, tl.worstRow = v, q
		}
	}
	if len(engines) == 0 {
		return false, "not measured"
	}
	met := false
	var parts []string
	for _, e := range engines {
		tl := tallies[e]
		met = met || tl.within == tl.n
		parts = append(parts, fmt.Sprintf("%s engine: %d of %d within; worst %s", e, tl.within, tl.n, describe(tl.worstRow, tl.worst)))
	}
	return met, strings.Join(parts, "; ")
}

func sidecarTarget(ss []SidecarResult, ms []MicroResult) Target {
	t := Target{Name: fmt.Sprintf("sidecar peak RSS grows less than %.1fx when its answer grows 10x", maxSidecarGrowth)}
	var small, large *SidecarResult
	for i := range ss {
		if ss[i].Compression != "none" {
			continue
		}
		if small == nil || ss[i].Bytes < small.Bytes {
			small = &ss[i]
		}
		if large == nil || ss[i].Bytes > large.Bytes {
			large = &ss[i]
		}
	}
	if small == nil || small == large {
		t.Measured = "not measured"
		return t
	}
	growth := float64(large.PeakRSS) / float64(small.PeakRSS)
	t.Met = growth < maxSidecarGrowth
	t.Measured = fmt.Sprintf("%.2fx (%s for %s of series, %s for %s)",
		growth, mib(small.PeakRSS), mib(small.Bytes), mib(large.PeakRSS), mib(large.Bytes))
	s1, ok1 := micro(ms, "prometheus/BenchmarkSidecarSeries/series=1000", "sidecar-peak-RSS-MB")
	s10, ok10 := micro(ms, "prometheus/BenchmarkSidecarSeries/series=10000", "sidecar-peak-RSS-MB")
	if ok1 && ok10 {
		t.Met = t.Met && s10/s1 < maxSidecarGrowth
		t.Measured += fmt.Sprintf("; Go benchmark, 1,000 to 10,000 series: %.2fx (%.1f to %.1f MB)", s10/s1, s1, s10)
	}
	return t
}

// queryRSSTarget compares, shape by shape, the query's memory over the
// longest window with that over the shortest: bounded means it grows less
// than the chunk data it reads, i.e. the query does not hold what it has
// read beyond what PromQL needs.
func queryRSSTarget(qs []QueryResult) Target {
	t := Target{Name: "query peak RSS bounded: it grows less than the data read when the range grows"}
	short, long := map[string]QueryResult{}, map[string]QueryResult{}
	for _, q := range qs {
		if q.Compression != "none" || q.ReadBytes == 0 || q.row.Window.instant() {
			continue
		}
		key := q.Shape + ", " + q.Engine + " engine"
		if s, ok := short[key]; !ok || q.ReadBytes < s.ReadBytes {
			short[key] = q
		}
		if l, ok := long[key]; !ok || q.ReadBytes > l.ReadBytes {
			long[key] = q
		}
	}
	var (
		n          int
		worst      string
		worstShare float64 // memory growth over data growth
	)
	t.Met = true
	for shape, s := range short {
		l := long[shape]
		if l.ReadBytes == s.ReadBytes {
			continue
		}
		n++
		growth := float64(l.QueryPeakRSS-l.QueryStartRSS) / float64(max(1, s.QueryPeakRSS-s.QueryStartRSS))
		data := float64(l.ReadBytes) / float64(s.ReadBytes)
		t.Met = t.Met && growth < data
		if share := growth / data; share > worstShare {
			worstShare = share
			worst = fmt.Sprintf("%s: memory grows %.2fx for %.1fx the data, peak %s over %s, %s over %s",
				shape, growth, data, mib(s.QueryPeakRSS), s.Window, mib(l.QueryPeakRSS), l.Window)
		}
	}
	if n == 0 {
		t.Met = false
		t.Measured = "not measured"
		return t
	}
	t.Measured = fmt.Sprintf("worst of %d shapes, %s", n, worst)
	return t
}

const (
	dedupBench     = "dedup/BenchmarkIterator/dedup"
	dedupRunsBench = "dedup/BenchmarkIterator/dedup_runs"
	xorBench       = "dedup/BenchmarkIterator/xorchunk"
)

func dedupTarget(ms []MicroResult) Target {
	t := Target{Name: fmt.Sprintf("dedup costs at most %.0fx decoding both replicas with the query's XOR decoder, per sample (3%% of scrapes missed)", maxDedupCost)}
	dedup, ok1 := micro(ms, dedupBench, "ns/sample")
	xor, ok2 := micro(ms, xorBench, "ns/sample")
	if !ok1 || !ok2 {
		t.Measured = "not measured (no micro-benchmark results)"
		return t
	}
	// Judged a sample at a time, as Thanos's engine and a query on one CPU
	// read the merge; read-ahead reads it a run at a time, for less.
	t.Met = dedup <= maxDedupCost*xor
	t.Measured = fmt.Sprintf("%.2fx (%.2f vs %.2f ns/sample)", dedup/xor, dedup, xor)
	if runs, ok := micro(ms, dedupRunsBench, "ns/sample"); ok {
		t.Measured += fmt.Sprintf("; read a run at a time, as read-ahead does, %.2fx (%.2f ns/sample)", runs/xor, runs)
	}
	return t
}

func allocTarget(ms []MicroResult) Target {
	t := Target{Name: "no allocation per sample in the dedup iterator"}
	allocs, ok1 := micro(ms, dedupBench, "allocs/op")
	nsOp, ok2 := micro(ms, dedupBench, "ns/op")
	nsSample, ok3 := micro(ms, dedupBench, "ns/sample")
	if !ok1 || !ok2 || !ok3 || nsSample == 0 {
		t.Measured = "not measured (no micro-benchmark results)"
		return t
	}
	samples := nsOp / nsSample
	t.Met = allocs < samples/100
	t.Measured = fmt.Sprintf("%.0f allocs per pass over %.0f samples", allocs, samples)
	return t
}
