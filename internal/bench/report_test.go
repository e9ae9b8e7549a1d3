package bench

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in          []time.Duration
		median, p90 float64
	}{
		{ms(100), 0.1, 0.1},
		{ms(300, 100), 0.2, 0.3},
		{ms(5, 1, 4, 2, 3), 0.003, 0.005},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9), 0.0055, 0.009},
	} {
		got := summarise(tc.in)
		if !near(got.Median, tc.median) || !near(got.P90, tc.p90) || got.Runs != len(tc.in) {
			t.Errorf("summarise(%v) = %+v, want median %v, p90 %v", tc.in, got, tc.median, tc.p90)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

const microOutput = `goos: linux
pkg: github.com/tandem-metrics/tandem/pkg/dedup
BenchmarkIterator/xor-2         	    4507	    253108 ns/op	        22.90 ns/sample	       0 B/op	       0 allocs/op
BenchmarkIterator/xorchunk-2    	    9000	    126554 ns/op	        11.45 ns/sample	       0 B/op	       0 allocs/op
BenchmarkIterator/dedup-2       	    2744	    776360 ns/op	       135.2 ns/output-sample	        40.00 ns/sample	       0 B/op	       0 allocs/op
BenchmarkIterator/dedup_runs-2  	    3000	    500000 ns/op	        25.00 ns/sample	       0 B/op	       0 allocs/op
ok  	github.com/tandem-metrics/tandem/pkg/dedup	3.325s
pkg: github.com/tandem-metrics/tandem/pkg/store/prometheus
BenchmarkSidecarSeries/series=1000-2         	     100	  14417266 ns/op	  32.61 MB/s	     69337 series/s	        26.87 sidecar-peak-RSS-MB	 1382506 B/op	    9318 allocs/op
BenchmarkSidecarSeries/series=10000-2        	      14	  80586037 ns/op	  60.30 MB/s	    124079 series/s	        28.62 sidecar-peak-RSS-MB	13541820 B/op	   92267 allocs/op
--- FAIL: BenchmarkBroken
PASS
`

func TestMicro(t *testing.T) {
	rs, err := parseMicro(bufio.NewScanner(strings.NewReader(microOutput)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 {
		t.Fatalf("parsed %d benchmarks, want 6: %+v", len(rs), rs)
	}
	for _, tc := range []struct {
		name, unit string
		want       float64
	}{
		{"dedup/BenchmarkIterator/xor", "ns/sample", 22.90},
		{"dedup/BenchmarkIterator/dedup", "ns/op", 776360},
		{"prometheus/BenchmarkSidecarSeries/series=10000", "sidecar-peak-RSS-MB", 28.62},
	} {
		if got, ok := micro(rs, tc.name, tc.unit); !ok || got != tc.want {
			t.Errorf("%s %s = %v (%v), want %v", tc.name, tc.unit, got, ok, tc.want)
		}
	}

	res := &Results{Micro: rs}
	targets := checkTargets(res)
	byName := map[string]Target{}
	for _, tg := range targets {
		byName[tg.Name] = tg
	}
	for _, tc := range []struct {
		prefix, measured string
		met              bool
	}{
		{"dedup costs", "3.49x (40.00 vs 11.45 ns/sample); read a run at a time, as read-ahead does, 2.18x (25.00 ns/sample)", false},
		{"no allocation", "0 allocs per pass over 19409 samples", true},
		{"every row no slower", "not measured", false},
	} {
		var found bool
		for name, tg := range byName {
			if strings.HasPrefix(name, tc.prefix) {
				found = true
				if tg.Met != tc.met || !strings.HasPrefix(tg.Measured, tc.measured) {
					t.Errorf("%s: %+v, want met=%v, measured %q", name, tg, tc.met, tc.measured)
				}
			}
		}
		if !found {
			t.Errorf("no target %q in %+v", tc.prefix, targets)
		}
	}
}

func TestTargets(t *testing.T) {
	const mb = 1 << 20
	windows := map[string]Window{"6h": sixHours1m, "24h": oneDay5m}
	row := func(shape, rng string, ratio float64, start, peak, read int64) QueryResult {
		r := Row{Shape{Name: shape}, windows[rng]}
		return QueryResult{row: r, Shape: shape, Window: r.Window.String(), Engine: "prometheus", Compression: "none", Ratio: ratio,
			QueryStartRSS: start * mb, QueryPeakRSS: peak * mb, ReadBytes: read * mb}
	}
	thanos := func(shape, rng string, start, peak int64) ThanosResult {
		return ThanosResult{Shape: shape, Window: windows[rng].String(), QueryStartRSS: start * mb, QueryPeakRSS: peak * mb}
	}
	sidecar := func(bytes, rss int64) SidecarResult {
		return SidecarResult{Compression: "none", Bytes: bytes * mb, PeakRSS: rss * mb}
	}
	for _, tc := range []struct {
		name    string
		res     Results
		target  string
		met     bool
		measure string
	}{
		{
			name:   "latency within",
			res:    Results{Queries: []QueryResult{row("a", "6h", 0.8, 0, 0, 0), row("a", "24h", 0.95, 0, 0, 0)}},
			target: "every row no slower", met: true, measure: "prometheus engine: 2 of 2 within; worst 0.95x (a, 24h / 5m)",
		},
		{
			name:   "latency beyond",
			res:    Results{Queries: []QueryResult{row("a", "6h", 0.8, 0, 0, 0), row("b", "24h", 1.1, 0, 0, 0)}},
			target: "every row no slower", met: false, measure: "prometheus engine: 1 of 2 within; worst 1.10x (b, 24h / 5m)",
		},
		{
			name: "half of Thanos's memory",
			res: Results{Queries: []QueryResult{row("a", "6h", 1, 20, 40, 10), row("a", "24h", 1, 20, 90, 40)},
				Thanos: []ThanosResult{thanos("a", "6h", 30, 100), thanos("a", "24h", 30, 200)}},
			target: "query peak RSS over its floor", met: true,
			measure: "prometheus engine: 2 of 2 within; worst 0.41x (a, 24h / 5m, 70.0 MiB over a floor of 20.0 MiB against 170.0 MiB over 30.0 MiB; peaks 0.45x)",
		},
		{
			name:   "half of Thanos's peak but more than half of its growth",
			res:    Results{Queries: []QueryResult{row("a", "6h", 1, 20, 45, 10)}, Thanos: []ThanosResult{thanos("a", "6h", 60, 100)}},
			target: "query peak RSS over its floor", met: false,
			measure: "prometheus engine: 0 of 1 within; worst 0.62x (a, 6h / 1m, 25.0 MiB over a floor of 20.0 MiB against 40.0 MiB over 60.0 MiB; peaks 0.45x)",
		},
		{
			name: "more than half of Thanos's memory",
			res: Results{Queries: []QueryResult{row("a", "6h", 1, 20, 60, 10), row("a", "24h", 1, 20, 90, 40)},
				Thanos: []ThanosResult{thanos("a", "6h", 30, 100), thanos("a", "24h", 30, 200)}},
			target: "query peak RSS over its floor", met: false, measure: "prometheus engine: 1 of 2 within; worst 0.57x (a, 6h / 1m",
		},
		{
			name:   "memory grows less than the data",
			res:    Results{Queries: []QueryResult{row("a", "6h", 1, 20, 40, 10), row("a", "24h", 1, 20, 80, 40)}},
			target: "query peak RSS bounded", met: true, measure: "worst of 1 shapes, a, prometheus engine: memory grows 3.00x for 4.0x the data",
		},
		{
			name: "memory grows with the data",
			res: Results{Queries: []QueryResult{row("a", "6h", 1, 20, 40, 10), row("a", "24h", 1, 20, 80, 40),
				row("b", "6h", 1, 20, 30, 10), row("b", "24h", 1, 20, 70, 40)}},
			target: "query peak RSS bounded", met: false, measure: "worst of 2 shapes, b, prometheus engine: memory grows 5.00x for 4.0x the data",
		},
		{
			name:   "sidecar flat",
			res:    Results{Sidecar: []SidecarResult{sidecar(3, 28), sidecar(30, 31)}},
			target: "sidecar peak RSS", met: true, measure: "1.11x",
		},
		{
			name:   "sidecar grows",
			res:    Results{Sidecar: []SidecarResult{sidecar(3, 28), sidecar(30, 84)}},
			target: "sidecar peak RSS", met: false, measure: "3.00x",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, tg := range checkTargets(&tc.res) {
				if !strings.HasPrefix(tg.Name, tc.target) {
					continue
				}
				if tg.Met != tc.met || !strings.HasPrefix(tg.Measured, tc.measure) {
					t.Errorf("%+v, want met=%v, measured %q...", tg, tc.met, tc.measure)
				}
				return
			}
			t.Fatalf("no target %q", tc.target)
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{number(0), "0"}, {number(21.15), "21.1"}, {number(0.9998), "1"}, {number(999), "999"},
		{number(1000), "1,000"}, {number(2_018_000_000), "2,018,000,000"}, {number(233_812.4), "233,812"},
		{shortDuration(6 * time.Hour), "6h"}, {shortDuration(144 * time.Minute), "2h24m"},
		{shortDuration(5 * time.Minute), "5m"}, {shortDuration(90 * time.Second), "1m30s"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
