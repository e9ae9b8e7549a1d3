package groundtruth

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

func generate(t *testing.T) *Dataset {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Targets, cfg.Duration = 4, 3*time.Hour
	ds, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := generate(t), generate(t)
	if !reflect.DeepEqual(a.Replicas, b.Replicas) {
		t.Fatal("same config, different samples")
	}
	cfg := a.Config
	cfg.Seed++
	c, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Replicas, c.Replicas) {
		t.Fatal("different seeds, same samples")
	}
}

func TestScrapesFollowTheTruth(t *testing.T) {
	ds := generate(t)
	cfg := ds.Config
	interval := ds.Interval()
	for r, rep := range ds.Replicas {
		skew := int64(0)
		if r == ReplicaB {
			skew = cfg.SkewB.Milliseconds()
		}
		for _, s := range rep.Series {
			tg := targetOf(t, ds, s.Labels)
			up := ds.End - ds.Start
			for _, w := range rep.Down {
				up -= w.End - w.Start
			}
			expected := up / interval
			if got := int64(len(s.Samples)); got > expected+1 || got < expected*9/10 {
				t.Errorf("replica %s %s: %d samples, want about %d less misses and outages", rep.Name, s.Labels, got, expected)
			}
			for i, smpl := range s.Samples {
				at := smpl.T - skew // when the scrape really happened
				if ds.Down(r, at) {
					t.Fatalf("replica %s scraped at %d while down", rep.Name, at)
				}
				if i > 0 && smpl.T <= s.Samples[i-1].T {
					t.Fatalf("replica %s %s: timestamps not increasing at %d", rep.Name, s.Labels, i)
				}
				want := tg.Counter(at)
				if s.Labels.Get(model.MetricNameLabel) == GaugeName {
					want = tg.Gauge(at)
				}
				if smpl.V != want {
					t.Fatalf("replica %s %s at %d: got %v, want %v", rep.Name, s.Labels, at, smpl.V, want)
				}
			}
		}
	}
	if ds.BothDown.End-ds.BothDown.Start != cfg.OutageBoth.Milliseconds() {
		t.Errorf("both-down window %v, want %v long", ds.BothDown, cfg.OutageBoth)
	}
}

func TestTrueRate(t *testing.T) {
	ds := generate(t)
	for _, tg := range ds.Targets {
		for at := ds.Start + 60_000; at < ds.End; at += 60_000 {
			rate, ok := tg.AverageRate(at-60_000, at)
			restarted := tg.lastRestart(at) != tg.lastRestart(at-60_000)
			if ok == restarted {
				t.Fatalf("at %d: ok=%v but restarted=%v", at, ok, restarted)
			}
			if !ok {
				continue
			}
			if diff := (tg.Counter(at) - tg.Counter(at-60_000)) / 60; math.Abs(diff-rate) > 1e-9*rate {
				t.Fatalf("at %d: average rate %v, counter increase says %v", at, rate, diff)
			}
			if changes := tg.RateChanges(); len(changes) > 0 && (at < changes[0]) && rate != tg.Rate(at) {
				t.Fatalf("at %d: constant segment but average %v != rate %v", at, rate, tg.Rate(at))
			}
		}
		for _, r := range tg.Restarts {
			if tg.Counter(r) != 0 || tg.Counter(r-1) == 0 {
				t.Fatalf("restart at %d does not reset the counter", r)
			}
		}
	}
}

func TestOpenMetricsParses(t *testing.T) {
	ds := generate(t)
	for r, rep := range ds.Replicas {
		var buf bytes.Buffer
		if err := ds.WriteOpenMetrics(&buf, r, "replica"); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(buf.Bytes(), []byte("# EOF\n")) {
			t.Fatal("no # EOF at the end")
		}
		p := textparse.NewOpenMetricsParser(buf.Bytes(), labels.NewSymbolTable())
		n, want := 0, 0
		for _, s := range rep.Series {
			want += len(s.Samples)
		}
		lastT := map[string]int64{}
		for {
			entry, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("replica %s: %v", rep.Name, err)
			}
			if entry != textparse.EntrySeries {
				continue
			}
			_, ts, _ := p.Series()
			var lset labels.Labels
			p.Labels(&lset)
			if lset.Get("replica") != rep.Name || ts == nil {
				t.Fatalf("sample %s at %v: want replica label %q and a timestamp", lset, ts, rep.Name)
			}
			if *ts <= lastT[lset.String()] {
				t.Fatalf("%s: timestamps not increasing", lset)
			}
			lastT[lset.String()] = *ts
			n++
		}
		if n != want {
			t.Errorf("replica %s: parsed %d samples, want %d", rep.Name, n, want)
		}
	}
}

func targetOf(t *testing.T, ds *Dataset, lset labels.Labels) *Target {
	t.Helper()
	for _, tg := range ds.Targets {
		if tg.Labels.Get("instance") == lset.Get("instance") {
			return tg
		}
	}
	t.Fatalf("no target for %s", lset)
	return nil
}

func TestRateAccuracy(t *testing.T) {
	ds := generate(t)
	truth := map[string][]Sample{}
	for _, tg := range ds.Targets {
		for ts := ds.Start + 60_000; ts < ds.End; ts += 15_000 {
			if rate, ok := tg.AverageRate(ts-60_000, ts); ok {
				truth[tg.Labels.Get("instance")] = append(truth[tg.Labels.Get("instance")], Sample{T: ts, V: rate})
			}
		}
	}
	exact := ds.RateAccuracy(truth, time.Minute, 15*time.Second)
	if exact.Points == 0 || exact.Missing != 0 || exact.Off50 != 0 || exact.P99 > 1e-9 {
		t.Errorf("the true rate itself: %+v, want no error", exact)
	}
	none := ds.RateAccuracy(nil, time.Minute, 15*time.Second)
	if none.Points != exact.Points || none.Missing != none.Points || none.Off50 != none.Points || none.P99 != 1 {
		t.Errorf("no result: %+v, want every point missing and off", none)
	}
}

func TestShape(t *testing.T) {
	ds := generate(t)
	for _, s := range ds.Replicas[ReplicaA].Series {
		tg := targetOf(t, ds, s.Labels)
		alone := ds.Shape(s.Labels, s.Samples)
		if alone.Unsorted+alone.NearDuplicates+alone.Invented+alone.Unread+alone.InBothDown != 0 {
			t.Errorf("%s: one replica's own samples: %+v, want nothing invented or near", s.Labels, alone)
		}
		if len(alone.Holes) == 0 {
			t.Errorf("%s: one replica's own samples have no holes, though the other had data in its outage", s.Labels)
		}
		if alone.Counter && alone.Drops != len(tg.Restarts) {
			t.Errorf("%s: %d drops, want one per restart: %d", s.Labels, alone.Drops, len(tg.Restarts))
		}

		var both []Sample
		for _, raw := range ds.Raw(s.Labels) {
			both = append(both, raw...)
		}
		slices.SortFunc(both, func(a, b Sample) int { return cmp.Compare(a.T, b.T) })
		if sh := ds.Shape(s.Labels, both); sh.NearDuplicates == 0 || len(sh.Holes) != 0 {
			t.Errorf("%s: both replicas interleaved: %+v, want near-duplicates and no holes", s.Labels, sh)
		}

		bad := append(slices.Clone(s.Samples[:10]), Sample{T: ds.BothDown.Start + ds.Config.SkewB.Milliseconds() + 1, V: -1})
		if sh := ds.Shape(s.Labels, bad); sh.Invented != 1 || sh.Unread != 1 || sh.InBothDown != 1 || len(sh.Faults(true)) == 0 {
			t.Errorf("%s: a sample made up in the both-down window: %+v", s.Labels, sh)
		}
	}
}
