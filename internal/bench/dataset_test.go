package bench

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// parsed is one replica's OpenMetrics text as Prometheus's own parser
// reads it: each series by the string of its labels.
type parsed map[string]*series

type series struct {
	lset    labels.Labels
	samples []sample
}

type sample struct {
	t int64
	v float64
}

func parseOpenMetrics(t *testing.T, text []byte) parsed {
	t.Helper()
	p := textparse.NewOpenMetricsParser(text, labels.NewSymbolTable())
	out := parsed{}
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("promtool's parser rejects the text: %v", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, ts, v := p.Series()
		if ts == nil {
			t.Fatal("sample without a timestamp")
		}
		var lset labels.Labels
		p.Labels(&lset)
		s, ok := out[lset.String()]
		if !ok {
			s = &series{lset: lset}
			out[lset.String()] = s
		}
		s.samples = append(s.samples, sample{*ts, v})
	}
}

func TestOpenMetrics(t *testing.T) {
	d := Dataset{Series: 80, Length: 2 * time.Hour, Interval: 15 * time.Second}
	var replicas [2]parsed
	for r := range replicas {
		var buf bytes.Buffer
		// Two windows, as generate writes them, must make one history.
		mid := d.Start().Add(time.Hour).UnixMilli()
		if err := d.writeOpenMetrics(&buf, r, d.Start().UnixMilli(), mid); err != nil {
			t.Fatal(err)
		}
		first := parseOpenMetrics(t, buf.Bytes())
		buf.Reset()
		if err := d.writeOpenMetrics(&buf, r, mid, d.End().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		replicas[r] = parseOpenMetrics(t, buf.Bytes())
		for k, s := range first {
			replicas[r][k].samples = append(s.samples, replicas[r][k].samples...)
		}
	}

	for r, series := range replicas {
		if got, want := len(series), d.Series+d.HistogramSeries(); got != want {
			t.Fatalf("replica %d: %d series, want %d", r, got, want)
		}
		for lset, s := range series {
			samples := s.samples
			if len(samples) != d.SamplesPerSeries() {
				t.Fatalf("replica %d, %s: %d samples, want %d", r, lset, len(samples), d.SamplesPerSeries())
			}
			for i, s := range samples {
				if s.t < d.Start().UnixMilli() || s.t >= d.End().UnixMilli() {
					t.Fatalf("%s: sample at %d outside the dataset", lset, s.t)
				}
				if i > 0 && (s.t-samples[i-1].t != d.Interval.Milliseconds() || s.v < samples[i-1].v) {
					t.Fatalf("%s: sample %d (%v) does not follow %v one interval later as a counter", lset, i, s, samples[i-1])
				}
			}
		}
	}

	// Both replicas hold the same series, scraped at different moments.
	for lset, a := range replicas[0] {
		b, ok := replicas[1][lset]
		if !ok {
			t.Fatalf("%s only in replica a", lset)
		}
		if a.samples[0].t == b.samples[0].t {
			t.Errorf("%s: both replicas scrape at %d", lset, a.samples[0].t)
		}
	}

	// The selectors of the query shapes select what they say.
	counters, codes, instances, group0 := 0, map[string]bool{}, map[string]bool{}, 0
	for _, s := range replicas[0] {
		if s.lset.Get("__name__") != counterName {
			continue
		}
		counters++
		codes[s.lset.Get("code")], instances[s.lset.Get("instance")] = true, true
		if s.lset.Get("group") == "0" {
			group0++
		}
	}
	if counters != d.Series || group0 != min(d.Series, groupSize) {
		t.Errorf("%d counter series, %d in group 0; want %d and %d", counters, group0, d.Series, min(d.Series, groupSize))
	}
	if len(codes) != 4 || len(instances) != d.Instances() {
		t.Errorf("codes %v and %d instances, want 4 codes and %d instances", codes, len(instances), d.Instances())
	}
	// Buckets are cumulative.
	for _, s := range replicas[0] {
		if s.lset.Get("le") != "+Inf" {
			continue
		}
		below := replicas[0][labels.NewBuilder(s.lset).Set("le", "10").Labels().String()]
		last := len(s.samples) - 1
		if below == nil || below.samples[last].v > s.samples[last].v || s.samples[last].v == 0 {
			t.Errorf("%s: bucket le=10 is not at most le=+Inf (%v)", s.lset, s.samples[last])
		}
	}
}

func TestDatasetKey(t *testing.T) {
	a := Dataset{Series: 2000, Length: 24 * time.Hour, Interval: 15 * time.Second}
	for _, b := range []Dataset{
		{Series: 2001, Length: a.Length, Interval: a.Interval},
		{Series: a.Series, Length: 23 * time.Hour, Interval: a.Interval},
		{Series: a.Series, Length: a.Length, Interval: 30 * time.Second},
	} {
		if a.Key() == b.Key() {
			t.Errorf("%+v and %+v share the cache key %s", a, b, a.Key())
		}
	}
	for _, bad := range []Dataset{
		{Series: 1, Length: time.Hour, Interval: 15 * time.Second},
		{Series: 10, Length: time.Second, Interval: 15 * time.Second},
		{Series: 10, Length: time.Hour, Interval: 1500 * time.Microsecond},
	} {
		if bad.validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
