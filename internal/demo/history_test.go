package demo

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/tandem-metrics/tandem/internal/promtest"
)

func testHistory(length time.Duration) History {
	return History{
		End:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Length:   length,
		Interval: ScrapeInterval,
		Seed:     1,
		MissRate: 0.01,
	}
}

func TestOutagesStayApartAndInside(t *testing.T) {
	for _, length := range []time.Duration{time.Hour, 6 * time.Hour, 48 * time.Hour} {
		h := testHistory(length)
		outs := h.Outages()
		if len(outs) != 2 || outs[0].Replica != "r0" || outs[1].Replica != "r1" {
			t.Fatalf("%v: outages %+v, want one for r0 then one for r1", length, outs)
		}
		for _, o := range outs {
			if !o.Start.After(h.Start()) || !o.End.Before(h.End) || !o.End.After(o.Start.Add(2*time.Minute)) {
				t.Errorf("%v: outage %+v not a gap of over 2m inside %v..%v", length, o, h.Start(), h.End)
			}
		}
		if !outs[0].End.Before(outs[1].Start) {
			t.Errorf("%v: outages overlap: %+v", length, outs)
		}
	}
	if got := testHistory(6 * time.Hour).Outages(); got[0].End.Sub(got[0].Start) != 40*time.Minute || got[1].End.Sub(got[1].Start) != 25*time.Minute {
		t.Errorf("6h of history: outages %+v, want 40m and 25m", got)
	}
}

// TestReplicasFollowOneTruth checks what makes the demo's point: each
// replica has a hole where it was down, the other has data there, and the
// two read the same counters: merged in time order, no counter goes down.
func TestReplicasFollowOneTruth(t *testing.T) {
	h := testHistory(6 * time.Hour)
	perReplica := [2][]family{h.generate(0), h.generate(1)}
	scrapes := int(h.Length / h.Interval)
	merged := map[string][]sample{}
	for r, fams := range perReplica {
		down := h.Outages()[r]
		other := h.Outages()[1-r]
		for _, f := range fams {
			for _, s := range f.series {
				name := s.name + labels.FromStrings(s.labels...).String()
				if f.typ != "gauge" {
					merged[name] = append(merged[name], s.samples...)
				}
				inOwn, inOther := 0, 0
				for i, smpl := range s.samples {
					if smpl.t.Before(h.Start()) || smpl.t.After(h.End) {
						t.Fatalf("%s %s: sample at %v outside the history", replicaNames[r], name, smpl.t)
					}
					if isDown([]Outage{down}, smpl.t) {
						inOwn++
					}
					if isDown([]Outage{other}, smpl.t) {
						inOther++
					}
					if i > 0 && !smpl.t.After(s.samples[i-1].t) {
						t.Fatalf("%s %s: timestamps not increasing at %d", replicaNames[r], name, i)
					}
					if f.typ != "gauge" && i > 0 && smpl.v < s.samples[i-1].v {
						t.Fatalf("%s %s: counter went down at %v", replicaNames[r], name, smpl.t)
					}
				}
				if inOwn != 0 {
					t.Errorf("%s %s: %d samples while down", replicaNames[r], name, inOwn)
				}
				if want := int(other.End.Sub(other.Start)/h.Interval) * 9 / 10; inOther < want {
					t.Errorf("%s %s: %d samples while %s was down, want at least %d", replicaNames[r], name, inOther, other.Replica, want)
				}
				up := scrapes - int(down.End.Sub(down.Start)/h.Interval)
				if n := len(s.samples); n < up*95/100 || n > up+1 {
					t.Errorf("%s %s: %d samples, want about %d less a few misses", replicaNames[r], name, n, up)
				}
			}
		}
	}
	if len(merged) != 3*(len(codes)+len(cpuModes)+len(le)+2) {
		t.Fatalf("%d counter series, want %d per instance", len(merged), len(codes)+len(cpuModes)+len(le)+2)
	}
	for name, samples := range merged {
		slices.SortFunc(samples, func(a, b sample) int { return a.t.Compare(b.t) })
		for i := 1; i < len(samples); i++ {
			if samples[i].v < samples[i-1].v {
				t.Fatalf("%s: the replicas disagree: %v at %v, then %v at %v", name, samples[i-1].v, samples[i-1].t, samples[i].v, samples[i].t)
			}
		}
	}
}

func TestHistogramIsCumulative(t *testing.T) {
	h := testHistory(time.Hour)
	for _, f := range h.generate(0) {
		if f.typ != "histogram" {
			continue
		}
		// Per instance: buckets in le order, then _count, then _sum.
		per := len(le) + 2
		if len(f.series)%per != 0 {
			t.Fatalf("%d histogram series, want a multiple of %d", len(f.series), per)
		}
		for i := 0; i < len(f.series); i += per {
			group := f.series[i : i+per]
			count := group[len(le)]
			for j := range count.samples {
				prev := 0.0
				for b := range le {
					v := group[b].samples[j].v
					if v < prev {
						t.Fatalf("%s at %v: bucket le=%s below the one before", labels.FromStrings(group[b].labels...).String(), group[b].samples[j].t, le[b])
					}
					prev = v
				}
				if prev != count.samples[j].v {
					t.Fatalf("+Inf bucket %v != count %v", prev, count.samples[j].v)
				}
			}
		}
	}
}

func TestOpenMetricsParses(t *testing.T) {
	h := testHistory(time.Hour)
	fams := h.generate(1)
	var buf bytes.Buffer
	if err := writeOpenMetrics(&buf, fams); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range fams {
		for _, s := range f.series {
			want += len(s.samples)
		}
	}
	p := textparse.NewOpenMetricsParser(buf.Bytes(), labels.NewSymbolTable())
	got := 0
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d samples: %v", got, err)
		}
		if entry != textparse.EntrySeries {
			continue
		}
		if _, ts, _ := p.Series(); ts == nil {
			t.Fatal("sample without a timestamp")
		}
		var lset labels.Labels
		p.Labels(&lset)
		if lset.Has("replica") || lset.Has("cluster") {
			t.Fatalf("%s: external labels belong in the Prometheus config, not the data", lset)
		}
		got++
	}
	if got != want {
		t.Errorf("parsed %d samples, want %d", got, want)
	}
}

// TestBackfillAndConfig runs the real promtool on one replica's history and
// on its Prometheus config.
func TestBackfillAndConfig(t *testing.T) {
	promtool := promtest.Binary(t, "promtool")
	dir := filepath.Join(t.TempDir(), "r1")
	cfg := Config{
		Prometheus:  [2]string{"127.0.0.1:9091", "127.0.0.1:9092"},
		SidecarHTTP: [2]string{"127.0.0.1:10921", "127.0.0.1:10922"},
		QueryHTTP:   "127.0.0.1:10902",
	}
	if err := prepareReplica(t.Context(), promtool, testHistory(time.Hour), 1, dir, cfg); err != nil {
		t.Fatal(err)
	}
	blocks, err := filepath.Glob(filepath.Join(dir, "data", "*", "meta.json"))
	if err != nil || len(blocks) == 0 {
		t.Fatalf("no TSDB blocks written (%v)", err)
	}
	yml := filepath.Join(dir, "prometheus.yml")
	if out, err := exec.Command(promtool, "check", "config", yml).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	b, err := os.ReadFile(yml)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replica: r1", "cluster: demo", `"127.0.0.1:9091", "127.0.0.1:9092"`, `"127.0.0.1:10902"`, "rule_files: [../rules.yml]"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("prometheus.yml lacks %q:\n%s", want, b)
		}
	}
}
