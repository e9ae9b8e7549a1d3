package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/tandem-metrics/tandem/internal/openmetrics"
)

// Dataset is the history both replicas hold. It is a pure function of its
// fields, so generated blocks can be cached under Key.
type Dataset struct {
	// Series is the number of counter series per replica; the classic
	// histogram adds HistogramSeries more.
	Series int
	// Length is how much history there is, ending at End.
	Length time.Duration
	// Interval is the scrape interval of both replicas.
	Interval time.Duration
}

// formatVersion changes whenever the generated data does, so that cached
// blocks of an older generator are not reused.
const formatVersion = 1

// Metric names and the selectors the query shapes use.
const (
	counterName   = "bench_requests_total"
	bucketName    = "bench_request_duration_seconds_bucket"
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

// blockLength is the length of the TSDB blocks promtool writes: what a
// Prometheus that has run for a day has compacted its 2 h blocks into.
const blockLength = 6 * time.Hour

// replicaNames are the values of the replica external label.
var replicaNames = [2]string{"a", "b"}

// Start is the timestamp of the oldest sample.
func (d Dataset) Start() time.Time { return start }

// End is just past the newest sample.
func (d Dataset) End() time.Time { return start.Add(d.Length) }

// Instances is how many distinct instance label values the counters have.
func (d Dataset) Instances() int { return (d.Series + 1) / 2 }

// Histograms is how many histograms (label sets without le) there are.
func (d Dataset) Histograms() int { return max(1, d.Series/histogramEach) }

// HistogramSeries is how many bucket series there are.
func (d Dataset) HistogramSeries() int { return d.Histograms() * len(les) }

// SamplesPerSeries is how many samples each series holds.
func (d Dataset) SamplesPerSeries() int { return int(d.Length / d.Interval) }

// Samples is the number of samples one replica holds.
func (d Dataset) Samples() int64 {
	return int64(d.Series+d.HistogramSeries()) * int64(d.SamplesPerSeries())
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

// generate writes replica r's blocks into dataDir with promtool, one
// OpenMetrics file per block so promtool parses each file only twice.
func (d Dataset) generate(ctx context.Context, promtool string, r int, tmpDir, dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	for from := d.Start(); from.Before(d.End()); from = from.Add(blockLength) {
		to := min(from.Add(blockLength).UnixMilli(), d.End().UnixMilli())
		src := filepath.Join(tmpDir, fmt.Sprintf("%s-%d.om", replicaNames[r], from.Unix()))
		if err := writeFile(src, func(w io.Writer) error {
			return d.writeOpenMetrics(w, r, from.UnixMilli(), to)
		}); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics",
			"--max-block-duration="+blockLength.String(), src, dataDir)
		out, err := cmd.CombinedOutput()
		_ = os.Remove(src)
		if err != nil {
			return fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w\n%s", err, out)
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeOpenMetrics writes replica r's samples in [from, to) (ms since the
// epoch): each series' samples in time order, series of a family together.
func (d Dataset) writeOpenMetrics(w io.Writer, r int, from, to int64) error {
	base := d.Start().UnixMilli()
	iv := d.Interval.Milliseconds()
	// samples calls emit for every scrape of series i in [from, to).
	samples := func(i int, emit func(t int64)) {
		first := base + d.phase(r, i)
		if first < from {
			first += (from - first + iv - 1) / iv * iv
		}
		for t := first; t < to && t < d.End().UnixMilli(); t += iv {
			emit(t)
		}
	}
	om := openmetrics.NewWriter(w)
	om.Family("bench_requests", "counter")
	for i := range d.Series {
		lset := labels.FromStrings("code", seriesCode(i), "group", strconv.Itoa(i/groupSize), "instance", instance(i/2), "job", job)
		rate, phi := counterRate(i), float64(i%11)
		sw := om.Series(counterName, lset)
		samples(i, func(t int64) { sw.Sample(t, counterValue(rate, phi, t-base)) })
	}
	// Buckets are written as an untyped family: the classic histogram as
	// PromQL sees it, without the _sum and _count it does not read.
	om.Family(bucketName, "unknown")
	for h := range d.Histograms() {
		rate, phi := 10*counterRate(h), float64(h%13)
		for k, le := range les {
			sw := om.Series(bucketName, labels.FromStrings("instance", instance(h), "job", job, "le", le))
			samples(d.Series+h, func(t int64) { sw.Sample(t, math.Floor(counterValue(rate, phi, t-base)*lesShare[k])) })
		}
	}
	return om.Close()
}

// seriesCode gives even series code 200 and odd ones an error code.
func seriesCode(i int) string {
	if i%2 == 0 {
		return codes[0]
	}
	return codes[1+(i/2)%(len(codes)-1)]
}

func instance(i int) string { return fmt.Sprintf("host-%05d:9100", i) }
