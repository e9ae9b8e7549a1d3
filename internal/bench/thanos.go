package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-metrics/tandem/internal/supervise"
)

// ThanosResult is one query answered by what Tandem replaces: Thanos's
// sidecars and query over the same two Prometheus servers, deduplicating
// the same way.
type ThanosResult struct {
	Shape          string   `json:"shape"`
	Window         string   `json:"window"`
	ResultSeries   int      `json:"result_series"`
	Thanos         Latency  `json:"thanos"`
	Prometheus     Latency  `json:"prometheus"`
	Ratio          float64  `json:"ratio"`
	QueryPeakRSS   int64    `json:"query_peak_rss_bytes"`
	QueryStartRSS  int64    `json:"query_start_rss_bytes"` // before its first request
	SidecarPeakRSS [2]int64 `json:"sidecar_peak_rss_bytes"`
	// PrometheusCPU is the CPU time Prometheus b spends per query
	// answering Thanos's sidecar.
	PrometheusCPU float64 `json:"prometheus_b_cpu_seconds_per_query"`
	// Thanos's answer compared with one Prometheus's, and Tandem's with
	// Thanos's (both deduplicate).
	AgreementWithPrometheus Agreement `json:"agreement_with_prometheus"`
	AgreementWithTandem     Agreement `json:"tandem_agreement_with_thanos"`

	answer json.RawMessage
}

// thanosStack is Thanos's sidecars and query over the stack's Prometheus
// servers.
type thanosStack struct {
	sidecars [2]*process
	query    *process
}

func (t *thanosStack) stop() {
	for _, p := range append(t.sidecars[:], t.query) {
		if p != nil {
			_ = p.Stop(stopGrace)
		}
	}
}

// startThanos starts a Thanos sidecar per Prometheus and a Thanos query
// over them, and waits until the query sees both.
func (s *stack) startThanos(ctx context.Context) (_ *thanosStack, err error) {
	t := &thanosStack{}
	defer func() {
		if err != nil {
			t.stop()
		}
	}()
	for r, name := range replicaNames {
		addrs, err := supervise.FreeAddrs(2)
		if err != nil {
			return nil, err
		}
		name = "thanos-sidecar-" + name
		dir := filepath.Join(s.workDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		p, err := startProcess(name, s.bins.Thanos, filepath.Join(s.workDir, name+".log"), "sidecar",
			"--prometheus.url="+s.promURL(r),
			"--tsdb.path="+dir,
			"--grpc-address="+addrs[0],
			"--http-address="+addrs[1],
			"--log.level=warn",
		)
		if err != nil {
			return nil, err
		}
		p.GRPC, p.HTTP = addrs[0], addrs[1]
		t.sidecars[r] = p
		if err := p.waitReady(ctx, "http://"+p.HTTP+"/-/ready", readyTimeout); err != nil {
			return nil, err
		}
	}
	addrs, err := supervise.FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	p, err := startProcess("thanos-query", s.bins.Thanos, filepath.Join(s.workDir, "thanos-query.log"), "query",
		"--grpc-address="+addrs[0],
		"--http-address="+addrs[1],
		"--endpoint="+t.sidecars[0].GRPC,
		"--endpoint="+t.sidecars[1].GRPC,
		"--query.replica-label=replica",
		"--log.level=warn",
	)
	if err != nil {
		return nil, err
	}
	p.GRPC, p.HTTP = addrs[0], addrs[1]
	t.query = p
	if err := waitQuery(ctx, p, len(t.sidecars)); err != nil {
		return nil, err
	}
	return t, nil
}

// thanos measures every selected row through Thanos's stack, alternating
// with Prometheus as the query's measurement does, and compares its answers
// with Tandem's.
func (m *measurer) thanos(ctx context.Context, tandem []QueryResult) ([]ThanosResult, error) {
	var results []ThanosResult
	for _, row := range m.rows() {
		r, err := m.thanosQuery(ctx, row)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", row, err)
		}
		for _, q := range tandem {
			if q.row == row && q.Compression == "none" && q.Engine == "prometheus" {
				if r.AgreementWithTandem, err = agree(q.answer, r.answer); err != nil {
					return nil, fmt.Errorf("%s: compare with Tandem: %w", row, err)
				}
			}
		}
		fmt.Fprintf(m.out, "thanos %-28s %-10s p50 %.3fs p90 %.3fs, Prometheus p50 %.3fs (%.2fx), query RSS %s, sidecar RSS %s/%s; Tandem against it: %s\n",
			row.Shape.Name, row.Window, r.Thanos.Median, r.Thanos.P90, r.Prometheus.Median, r.Ratio,
			mib(r.QueryPeakRSS), mib(r.SidecarPeakRSS[0]), mib(r.SidecarPeakRSS[1]), r.AgreementWithTandem)
		results = append(results, r)
	}
	return results, nil
}

func (m *measurer) thanosQuery(ctx context.Context, row Row) (ThanosResult, error) {
	t, err := m.stack.startThanos(ctx)
	if err != nil {
		return ThanosResult{}, err
	}
	defer t.stop()
	startRSS, err := t.query.PeakRSS()
	if err != nil {
		return ThanosResult{}, err
	}
	cpu := m.stack.servingCPU()
	theirs, prom, err := m.alternate(ctx, m.request(row), "http://"+t.query.HTTP)
	if err != nil {
		return ThanosResult{}, err
	}
	promCPU, err := cpu(m.cfg.Runs + 1)
	if err != nil {
		return ThanosResult{}, err
	}
	r := ThanosResult{
		Shape:         row.Shape.Name,
		Window:        row.Window.String(),
		ResultSeries:  theirs.last.series,
		Thanos:        summarise(theirs.took),
		Prometheus:    summarise(prom.took),
		QueryStartRSS: startRSS,
		PrometheusCPU: promCPU,
		answer:        theirs.last.result,
	}
	r.Ratio = r.Thanos.Median / r.Prometheus.Median
	if r.AgreementWithPrometheus, err = agree(theirs.last.result, prom.last.result); err != nil {
		return r, fmt.Errorf("compare with Prometheus: %w", err)
	}
	if r.QueryPeakRSS, err = t.query.PeakRSS(); err != nil {
		return r, err
	}
	if r.SidecarPeakRSS, err = peakRSSes(t.sidecars); err != nil {
		return r, err
	}
	return r, nil
}

// runs are the timed runs of one query and its last answer.
type runs struct {
	took []time.Duration
	last answer
}

// servingCPU starts counting the CPU time of Prometheus b, which only its
// sidecar asks (Prometheus a also answers the direct queries); the function
// it returns gives that time per query for n queries.
func (s *stack) servingCPU() func(n int) (float64, error) {
	before, err := s.proms[1].CPUTime()
	return func(n int) (float64, error) {
		if err != nil {
			return 0, err
		}
		after, err := s.proms[1].CPUTime()
		if err != nil {
			return 0, err
		}
		return (after - before).Seconds() / float64(n), nil
	}
}

// alternate asks q of the query at base and of Prometheus a, one after the
// other so that both meet the same load from anything else on the machine,
// a warm-up and then Runs times.
func (m *measurer) alternate(ctx context.Context, q request, base string) (query, prom runs, err error) {
	for i := range m.cfg.Runs + 1 {
		a, err := q.run(ctx, m.client, base)
		if err != nil {
			return query, prom, err
		}
		b, err := q.run(ctx, m.client, m.stack.promURL(0))
		if err != nil {
			return query, prom, err
		}
		if i > 0 {
			query.took, prom.took = append(query.took, a.took), append(prom.took, b.took)
		}
		query.last, prom.last = a, b
	}
	return query, prom, nil
}
