package bench

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// readReplica generates replica r's data and reads back every series, from
// its blocks and its head's WAL, as Prometheus will; and the blocks' metas.
func readReplica(t *testing.T, d Dataset, r int) (map[string]*series, []tsdb.BlockMeta) {
	t.Helper()
	dir := t.TempDir()
	if err := d.generate(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	db, err := tsdb.OpenDBReadOnly(dir, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blocks, err := db.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	var metas []tsdb.BlockMeta
	for _, b := range blocks {
		metas = append(metas, b.Meta())
	}
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string]*series{}
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for set.Next() {
		s := &series{lset: set.At().Labels()}
		it := set.At().Iterator(nil)
		for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
			switch typ {
			case chunkenc.ValFloat:
				ts, v := it.At()
				s.samples = append(s.samples, sample{t: ts, v: v})
			case chunkenc.ValHistogram:
				ts, h := it.AtHistogram(nil)
				var buckets uint64
				for bi := h.PositiveBucketIterator(); bi.Next(); {
					buckets += bi.At().Count
				}
				if buckets+h.ZeroCount != h.Count {
					t.Fatalf("%s at %d: buckets hold %d, count %d", s.lset, ts, buckets, h.Count)
				}
				s.samples = append(s.samples, sample{t: ts, v: float64(h.Count)})
			}
		}
		out[s.lset.String()] = s
	}
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return out, metas
}

// recorder keeps what the generator appends, all of it in one range.
type recorder struct {
	storage.Appender // the methods the generator does not call
	series           map[string]*series
}

func (a *recorder) Append(_ storage.SeriesRef, lset labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	s, ok := a.series[lset.String()]
	if !ok {
		s = &series{lset: lset}
		a.series[lset.String()] = s
	}
	s.samples = append(s.samples, sample{t: t, v: v})
	return 0, nil
}

func (a *recorder) AppendHistogram(ref storage.SeriesRef, lset labels.Labels, t int64, h *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.Append(ref, lset, t, float64(h.Count))
}

func (a *recorder) Commit() error { return nil }

// TestDatasetHeadAfterBlocks checks that the newest headLength of the
// history is in the head's WAL and all before it in blocks, and that
// splitting the history into blocks and the head into its commits loses
// and repeats no sample: each series holds exactly what the generator
// makes of the whole range at once.
func TestDatasetHeadAfterBlocks(t *testing.T) {
	// Two blocks, the second cut short by the head; enough series that
	// some of both replicas are scraped just before a commit's start, and
	// jittered past it.
	d := Dataset{Series: 100, Length: 9 * time.Hour, Interval: 15 * time.Second}
	head := d.HeadStart().UnixMilli()
	for r := range replicaNames {
		want := &recorder{series: map[string]*series{}}
		if err := d.history(r).append(context.Background(), want, d.Start().UnixMilli(), d.End().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		var inBlocks, inHead uint64
		for _, s := range want.series {
			for _, smpl := range s.samples {
				if smpl.t < head {
					inBlocks++
				} else {
					inHead++
				}
			}
		}

		got, metas := readReplica(t, d, r)
		var blockSamples uint64
		for _, m := range metas {
			if m.MaxTime > head {
				t.Errorf("replica %d: block [%d, %d) reaches into the head, which starts at %d", r, m.MinTime, m.MaxTime, head)
			}
			blockSamples += m.Stats.NumSamples
		}
		if len(metas) != 2 || blockSamples != inBlocks || inHead == 0 {
			t.Errorf("replica %d: %d blocks of %d samples, want 2 of %d, and %d in the head", r, len(metas), blockSamples, inBlocks, inHead)
		}
		if len(got) != len(want.series) {
			t.Fatalf("replica %d: %d series, want %d", r, len(got), len(want.series))
		}
		for key, w := range want.series {
			var g []sample
			if got[key] != nil {
				g = got[key].samples
			}
			if !slices.Equal(g, w.samples) {
				t.Errorf("replica %d, %s: read back %d samples, generated %d, or others", r, key, len(g), len(w.samples))
			}
		}
	}
}

type series struct {
	lset    labels.Labels
	samples []sample
}

type sample struct {
	t int64
	v float64
}

// TestDatasetLikeProduction checks that the generated history has what an
// HA pair's has: missed scrapes, each replica's outages and one of both,
// jitter, counter resets, native histograms beside classic ones, and the
// two replicas scraping at different moments.
func TestDatasetLikeProduction(t *testing.T) {
	d := Dataset{Series: 100, Length: 6 * time.Hour, Interval: 15 * time.Second}
	var replicas [2]map[string]*series
	for r := range replicas {
		replicas[r], _ = readReplica(t, d, r)
	}
	if len(d.Outages(0)) != 2 || len(d.Outages(1)) != 2 {
		t.Fatalf("outages %v and %v: want one of each replica and one of both in 6 h", d.Outages(0), d.Outages(1))
	}
	both := d.Outages(0)[1]
	iv := d.Interval.Milliseconds()
	for r, all := range replicas {
		if got, want := len(all), d.Series+d.HistogramSeries(); got != want {
			t.Fatalf("replica %d: %d series, want %d", r, got, want)
		}
		var scrapes, expected, resets, natives int
		for key, s := range all {
			counter := s.lset.Get("__name__") == counterName
			if s.lset.Get("__name__") == nativeName {
				natives++
			}
			for i, smpl := range s.samples {
				if smpl.t < d.Start().UnixMilli() || smpl.t >= d.End().UnixMilli() {
					t.Fatalf("%s: sample at %d outside the dataset", key, smpl.t)
				}
				for _, o := range d.Outages(r) {
					if o.contains(smpl.t) {
						t.Fatalf("replica %d, %s: a sample at %d in its outage %v", r, key, smpl.t, o)
					}
				}
				if i == 0 {
					continue
				}
				gap := smpl.t - s.samples[i-1].t
				if gap < iv-2*jitter.Milliseconds() {
					t.Fatalf("%s: samples %d ms apart", key, gap)
				}
				if smpl.v < s.samples[i-1].v {
					if !counter {
						t.Fatalf("%s: a histogram count drops at %d", key, smpl.t)
					}
					resets++
				}
			}
			scrapes += len(s.samples)
			expected += d.SamplesPerSeries()
		}
		if want := d.Series / resetEach; resets != want {
			t.Errorf("replica %d: %d counter resets, want %d", r, resets, want)
		}
		if natives != d.Histograms() {
			t.Errorf("replica %d: %d native histograms, want %d", r, natives, d.Histograms())
		}
		// About 2% missed, plus an outage of 25 or 40 minutes and 5 together.
		if lost := 1 - float64(scrapes)/float64(expected); lost < 0.06 || lost > 0.18 {
			t.Errorf("replica %d lost %.1f%% of scrapes, want 2%% plus its outages", r, 100*lost)
		}
		if est := float64(d.Samples()) / float64(scrapes); est < 0.95 || est > 1.05 {
			t.Errorf("Samples() estimates %d, the blocks hold %d", d.Samples(), scrapes)
		}
	}
	// Both replicas hold the same series, scraped at different moments;
	// none holds anything while both are down.
	for key, a := range replicas[0] {
		b, ok := replicas[1][key]
		if !ok {
			t.Fatalf("%s only in replica a", key)
		}
		if a.samples[0].t == b.samples[0].t {
			t.Errorf("%s: both replicas scrape at %d", key, a.samples[0].t)
		}
		for _, s := range []*series{a, b} {
			for _, smpl := range s.samples {
				if both.contains(smpl.t) {
					t.Fatalf("%s: a sample at %d while both replicas are down", key, smpl.t)
				}
			}
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
	if counters != d.Series || group0 != min(d.Series, groupSize) || len(codes) != 4 || len(instances) != d.Instances() {
		t.Errorf("%d counters, %d in group 0, codes %v, %d instances; want %d, %d, 4 codes, %d", counters, group0, codes, len(instances), d.Series, min(d.Series, groupSize), d.Instances())
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
