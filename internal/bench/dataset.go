package bench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
)

// Dataset is the history both replicas hold. It is a pure function of its
// fields, so generated data can be cached under Key.
type Dataset struct {
	// Series is the number of counter series per replica; the classic
	// histogram adds HistogramSeries more.
	Series int
	// Length is how much history there is, ending at End.
	Length time.Duration
	// Interval is the scrape interval of both replicas.
	Interval time.Duration
}

// formatVersion changes whenever the generated data does, so that the
// cached data of an older generator is not reused.
const formatVersion = 3

// Metric names and the selectors the query shapes use.
const (
	counterName   = "bench_requests_total"
	bucketName    = "bench_request_duration_seconds_bucket"
	nativeName    = "bench_request_duration_native_seconds"
	job           = "bench"
	groupSize     = 1000 // series per value of the group label
	histogramEach = 40   // one histogram per this many counter series
)

// codes is what the code label takes: every instance has a 200 series and
// one error series.
var codes = [...]string{"200", "404", "500", "503"}

// les are Prometheus's default histogram buckets.
var les = [...]string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}

// lesShare is the share of observations at or below each le.
var lesShare = [...]float64{0.02, 0.05, 0.12, 0.25, 0.45, 0.7, 0.85, 0.93, 0.97, 0.99, 0.995, 1}

// start is where every dataset begins: fixed, so that the data and thus the
// cache do not depend on when it was generated. It is aligned to the block
// length.
var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// blockLength is the length of the generated TSDB blocks: what a
// Prometheus that has run for a day has compacted its 2 h blocks into.
const blockLength = 6 * time.Hour

// headLength is how much of the newest history is in Prometheus's head,
// not in blocks: what queries at the end of the history, instant or range,
// read from memory in production. A head spanning one block range (the
// default 2 h) is not yet compacted.
const headLength = 2 * time.Hour

// replicaNames are the values of the replica external label.
var replicaNames = [2]string{"a", "b"}

// Start is the timestamp of the oldest sample.
func (d Dataset) Start() time.Time { return start }

// End is just past the newest sample.
func (d Dataset) End() time.Time { return start.Add(d.Length) }

// HeadStart is where the head begins: the blocks end before it.
func (d Dataset) HeadStart() time.Time {
	if d.Length <= headLength {
		return d.Start()
	}
	return d.End().Add(-headLength)
}

// Instances is how many distinct instance label values the counters have.
func (d Dataset) Instances() int { return (d.Series + 1) / 2 }

// Histograms is how many histograms (label sets without le) there are.
func (d Dataset) Histograms() int { return max(1, d.Series/histogramEach) }

// HistogramSeries is how many bucket series there are, and one native
// histogram series per histogram.
func (d Dataset) HistogramSeries() int { return d.Histograms() * (len(les) + 1) }

// SamplesPerSeries is how many scrapes each series has, before missed
// scrapes and outages.
func (d Dataset) SamplesPerSeries() int { return int(d.Length / d.Interval) }

// Samples is about the number of samples one replica holds: all scrapes but
// the missed ones and those of its outages.
func (d Dataset) Samples() int64 {
	all := int64(d.Series+d.HistogramSeries()) * int64(d.SamplesPerSeries())
	var down time.Duration
	for _, o := range d.Outages(0) {
		down += o.To.Sub(o.From)
	}
	return int64(float64(all) * (1 - missRate) * (1 - float64(down)/float64(d.Length)))
}

// Key names the cache directory of the dataset's blocks.
func (d Dataset) Key() string {
	return fmt.Sprintf("v%d-series%d-%s-every%s", formatVersion, d.Series, d.Length, d.Interval)
}

func (d Dataset) validate() error {
	switch {
	case d.Series < 2:
		return fmt.Errorf("series: need at least 2, got %d", d.Series)
	case d.Interval < time.Second || d.Interval%time.Millisecond != 0:
		return fmt.Errorf("interval: need a whole number of milliseconds of at least 1s, got %s", d.Interval)
	case d.Length < d.Interval:
		return fmt.Errorf("length %s is shorter than the interval %s", d.Length, d.Interval)
	}
	return nil
}

// How the replicas miss data, as HA pairs in production do: each misses a
// scrape now and then, each is down for a while, both at once briefly.
const (
	missRate = 0.02                   // of scrapes, per replica, independently
	jitter   = 250 * time.Millisecond // either way of a replica's scrape moment
	// resetEach of the counter series restart once: their counter drops
	// to zero.
	resetEach = 25
)

// Outage is a time range in which a replica scraped nothing.
type Outage struct{ From, To time.Time }

func (o Outage) contains(t int64) bool { return t >= o.From.UnixMilli() && t < o.To.UnixMilli() }

// Outages are replica r's: its own (one in the last 6 h, one earlier) and
// the one both replicas share, placed relative to the end so that the
// 6 h ranges the queries ask hold some of each.
func (d Dataset) Outages(r int) []Outage {
	var out []Outage
	at := func(before, length time.Duration) {
		// A shorter history has only the outages that fit in it.
		if from := d.End().Add(-before); !from.Before(d.Start()) && before >= length {
			out = append(out, Outage{from, from.Add(length)})
		}
	}
	if r == 0 {
		at(20*time.Hour, 30*time.Minute)
		at(5*time.Hour, 40*time.Minute)
	} else {
		at(15*time.Hour, 20*time.Minute)
		at(3*time.Hour, 25*time.Minute)
	}
	at(90*time.Minute, 5*time.Minute) // both at once
	return out
}

// phase is when, within each interval, replica r scrapes series i: targets
// are spread over the interval, and the two replicas of a pair scrape the
// same target at different moments, as real HA pairs do.
func (d Dataset) phase(r, i int) int64 {
	iv := d.Interval.Milliseconds()
	p := int64(i) * 1009 % iv
	if r == 1 {
		p = (p + 7321) % iv
	}
	return p
}

// hash mixes its arguments into 64 well-spread bits (SplitMix64).
func hash(a, b, c uint64) uint64 {
	x := a*0x9E3779B97F4A7C15 ^ b*0xBF58476D1CE4E5B9 ^ c*0x94D049BB133111EB
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	return x ^ x>>31
}

// scrapes calls emit with the time of every scrape replica r made of series
// i in [from, to): on its phase, jittered, without the missed ones and those
// in its outages.
func (d Dataset) scrapes(r, i int, outages []Outage, from, to int64, emit func(t int64)) {
	base, iv, end := d.Start().UnixMilli(), d.Interval.Milliseconds(), d.End().UnixMilli()
	first := base + d.phase(r, i)
	// The first scrape that may fall in the range: one due just before
	// from can be jittered into it.
	k := int64(0)
	if early := from - jitter.Milliseconds(); first < early {
		k = (early - first + iv - 1) / iv
	}
	for ; ; k++ {
		h := hash(uint64(r), uint64(i), uint64(k))
		t := first + k*iv + int64(h%uint64(2*jitter.Milliseconds()+1)) - jitter.Milliseconds()
		if t >= to || t >= end {
			return
		}
		if t < from || float64(h>>32)/float64(1<<32) < missRate || slices.ContainsFunc(outages, func(o Outage) bool { return o.contains(t) }) {
			continue
		}
		emit(t)
	}
}

// resetAt is when series i's target restarts, or the start if it never
// does: both replicas see it.
func (d Dataset) resetAt(i int) int64 {
	if i%resetEach != resetEach/2 {
		return d.Start().UnixMilli()
	}
	return d.Start().UnixMilli() + int64(hash(7, uint64(i), 0)%uint64(d.Length.Milliseconds()))
}

// counterValue is the value at t (ms since start) of a counter whose rate
// is rate per second on average and swings by half of that over an hour.
// It depends only on t, so both replicas see the same counter.
func counterValue(rate float64, phi float64, t int64) float64 {
	const omega = 2 * math.Pi / 3600
	s := float64(t) / 1000
	return math.Floor(rate * (s + 0.5*(1-math.Cos(omega*s+phi))/omega))
}

// counterRate is series i's mean rate per second: series differ, so sums
// and quantiles are not trivial.
func counterRate(i int) float64 { return 0.5 + float64(i%37)/7 }

// counterAt is counter series i's value at t: counting since its target's
// last restart.
func (d Dataset) counterAt(i int, t int64) float64 {
	since := d.Start().UnixMilli()
	if reset := d.resetAt(i); t >= reset {
		since = reset
	}
	return counterValue(counterRate(i), float64(i%11), t-since)
}

// nativeBuckets are the exponential buckets (schema 0) of the native
// histograms: observations from about 1 ms to 16 s, with the shares of
// lesShare between them.
const nativeOffset = -10 // index of the first bucket: (2^-11, 2^-10]

// nativeHistogram is histogram h's native histogram at t: the same
// observations as the classic one, in exponential buckets.
func (d Dataset) nativeHistogram(h int, t int64) *histogram.Histogram {
	total := counterValue(10*counterRate(h), float64(h%13), t-d.Start().UnixMilli())
	hist := &histogram.Histogram{
		Schema:        0,
		Count:         uint64(total),
		Sum:           total * 0.3,
		PositiveSpans: []histogram.Span{{Offset: nativeOffset, Length: uint32(len(lesShare))}},
	}
	var prevCount, prevCum int64
	for k, share := range lesShare {
		cum := int64(math.Floor(total * share))
		count := cum - prevCum
		hist.PositiveBuckets = append(hist.PositiveBuckets, count-prevCount)
		prevCount, prevCum = count, cum
		if k == len(lesShare)-1 {
			hist.Count = uint64(cum)
		}
	}
	return hist
}

// generate writes replica r's history under dataDir as a Prometheus that
// has run for a while holds it: blocks of blockLength, written with
// Prometheus's own block writer, up to HeadStart, and from there on the
// head's write-ahead log, which the Prometheus started over dataDir
// replays.
func (d Dataset) generate(ctx context.Context, r int, dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	head := d.HeadStart()
	for from := d.Start(); from.Before(head); from = from.Add(blockLength) {
		to := min(from.Add(blockLength).UnixMilli(), head.UnixMilli())
		w, err := tsdb.NewBlockWriter(logger, dataDir, blockLength.Milliseconds())
		if err != nil {
			return fmt.Errorf("block writer: %w", err)
		}
		if err := d.history(r).append(ctx, w.Appender(ctx), from.UnixMilli(), to); err != nil {
			w.Close()
			return err
		}
		if _, err := w.Flush(ctx); err != nil {
			w.Close()
			return fmt.Errorf("write block: %w", err)
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return d.appendHead(ctx, r, dataDir, logger)
}

// appendHead appends replica r's samples from HeadStart on to the head of
// the TSDB in dataDir, in time order, one commit per scrape interval, as
// Prometheus appends what it scrapes, so that its write-ahead log holds
// them.
func (d Dataset) appendHead(ctx context.Context, r int, dataDir string, logger *slog.Logger) (err error) {
	opts := tsdb.DefaultOptions()
	opts.NoLockfile = true
	opts.RetentionDuration = 0 // keep every block, however long the history
	// As Prometheus writes its WAL by default.
	opts.WALCompression = compression.Snappy
	db, err := tsdb.Open(dataDir, logger, nil, opts, nil)
	if err != nil {
		return fmt.Errorf("open TSDB: %w", err)
	}
	// The head spans no more than a block range, so it would not be
	// compacted anyway; the blocks are as generated.
	db.DisableCompactions()
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close TSDB: %w", cerr)
		}
	}()
	h := d.history(r)
	end, iv := d.End().UnixMilli(), d.Interval.Milliseconds()
	for from := d.HeadStart().UnixMilli(); from < end; from += iv {
		if err := h.append(ctx, db.Appender(ctx), from, min(from+iv, end)); err != nil {
			return err
		}
	}
	return nil
}

// history is replica r's series, to append to one storage range by range.
type history struct {
	d       Dataset
	r       int
	outages []Outage
	series  []generated
	refs    []storage.SeriesRef // of series in the storage, once appended
}

// generated is one series: its labels, the series whose scrape moments it
// has (a histogram's are scraped together) and its value at t, a float or
// a native histogram.
type generated struct {
	lset   labels.Labels
	scrape int
	float  func(t int64) float64
	native func(t int64) *histogram.Histogram
}

func (d Dataset) history(r int) *history {
	h := &history{d: d, r: r, outages: d.Outages(r)}
	for i := range d.Series {
		h.series = append(h.series, generated{
			lset:   labels.FromStrings("__name__", counterName, "code", seriesCode(i), "group", strconv.Itoa(i/groupSize), "instance", instance(i/2), "job", job),
			scrape: i,
			float:  func(t int64) float64 { return d.counterAt(i, t) },
		})
	}
	base := d.Start().UnixMilli()
	for hi := range d.Histograms() {
		rate, phi := 10*counterRate(hi), float64(hi%13)
		for k, le := range les {
			h.series = append(h.series, generated{
				lset:   labels.FromStrings("__name__", bucketName, "instance", instance(hi), "job", job, "le", le),
				scrape: d.Series + hi,
				float:  func(t int64) float64 { return math.Floor(counterValue(rate, phi, t-base) * lesShare[k]) },
			})
		}
		h.series = append(h.series, generated{
			lset:   labels.FromStrings("__name__", nativeName, "instance", instance(hi), "job", job),
			scrape: d.Series + hi,
			native: func(t int64) *histogram.Histogram { return d.nativeHistogram(hi, t) },
		})
	}
	h.refs = make([]storage.SeriesRef, len(h.series))
	return h
}

// append appends the samples in [from, to) and commits them.
func (h *history) append(ctx context.Context, app storage.Appender, from, to int64) error {
	var err error
	for n, s := range h.series {
		if ctx.Err() != nil {
			_ = app.Rollback()
			return ctx.Err()
		}
		h.d.scrapes(h.r, s.scrape, h.outages, from, to, func(t int64) {
			if err != nil {
				return
			}
			if s.native != nil {
				h.refs[n], err = app.AppendHistogram(h.refs[n], s.lset, t, s.native(t), nil)
			} else {
				h.refs[n], err = app.Append(h.refs[n], s.lset, t, s.float(t))
			}
		})
	}
	if err != nil {
		_ = app.Rollback()
		return fmt.Errorf("append: %w", err)
	}
	return app.Commit()
}

// seriesCode gives even series code 200 and odd ones an error code.
func seriesCode(i int) string {
	if i%2 == 0 {
		return codes[0]
	}
	return codes[1+(i/2)%(len(codes)-1)]
}

func instance(i int) string { return fmt.Sprintf("host-%05d:9100", i) }
