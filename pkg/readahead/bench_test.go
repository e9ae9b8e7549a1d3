package readahead

import (
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// BenchmarkSeriesSet reads every sample of a set of series directly and
// through a SeriesSet, for short series (what an instant query reads) and
// long ones (a day at 15 s). With nothing to do per sample here, it shows
// the cost of handing series between goroutines, not the gain of reading
// ahead, which needs PromQL's work per sample alongside.
func BenchmarkSeriesSet(b *testing.B) {
	for _, bc := range []struct {
		series, samples int
	}{
		{10_000, 2},
		{100, 5760},
	} {
		series := make([]storage.Series, bc.series)
		for i := range series {
			series[i] = ramp{labels.FromStrings("i", fmt.Sprint(i)), bc.samples}
		}
		read := func(set storage.SeriesSet) {
			var it chunkenc.Iterator
			for set.Next() {
				it = set.At().Iterator(it)
				for it.Next() != chunkenc.ValNone {
					it.At()
				}
			}
		}
		name := fmt.Sprintf("series=%d/samples=%d", bc.series, bc.samples)
		b.Run(name+"/direct", func(b *testing.B) {
			for b.Loop() {
				read(newListSet(series...))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.series), "ns/series")
		})
		b.Run(name+"/readahead", func(b *testing.B) {
			for b.Loop() {
				set := NewSeriesSet(newListSet(series...), math.MinInt64, math.MaxInt64, 16, 2)
				read(set)
				set.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.series), "ns/series")
		})
	}
}
