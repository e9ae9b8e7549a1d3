package dedup_test

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// samplesPerChunk is how many samples the test encodes per chunk, as
// Prometheus's head does.
const samplesPerChunk = 120

// xorChunks encodes float samples into XOR chunks.
func xorChunks(tb testing.TB, samples []groundtruth.Sample) []dedup.Chunk {
	tb.Helper()
	var out []dedup.Chunk
	for len(samples) > 0 {
		n := min(samplesPerChunk, len(samples))
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range samples[:n] {
			app.Append(s.T, s.V)
		}
		out = append(out, dedup.Chunk{MinTime: samples[0].T, MaxTime: samples[n-1].T, Chunk: c})
		samples = samples[n:]
	}
	return out
}

// histogramChunk encodes integer histograms into one chunk.
func histogramChunk(tb testing.TB, ts []int64, hs []*histogram.Histogram) dedup.Chunk {
	tb.Helper()
	c := chunkenc.NewHistogramChunk()
	app, err := c.Appender()
	if err != nil {
		tb.Fatal(err)
	}
	for i, h := range hs {
		newChunk, _, next, err := app.AppendHistogram(nil, ts[i], h, false)
		if err != nil || newChunk != nil {
			tb.Fatalf("appending histogram %d: new chunk %v, err %v", i, newChunk != nil, err)
		}
		app = next
	}
	return dedup.Chunk{MinTime: ts[0], MaxTime: ts[len(ts)-1], Chunk: c}
}

// floatSamples reads an iterator to the end, failing on non-float samples.
func floatSamples(tb testing.TB, it chunkenc.Iterator) []groundtruth.Sample {
	tb.Helper()
	var out []groundtruth.Sample
	for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
		if typ != chunkenc.ValFloat {
			tb.Fatalf("got sample type %v, want float", typ)
		}
		t, v := it.At()
		out = append(out, groundtruth.Sample{T: t, V: v})
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// listSeriesSet is a storage.SeriesSet over series in memory.
type listSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *listSeriesSet) Next() bool                        { s.i++; return s.i <= len(s.series) }
func (s *listSeriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *listSeriesSet) Err() error                        { return nil }
func (s *listSeriesSet) Warnings() annotations.Annotations { return nil }

// replicaQueryable serves the per-replica series through a merge: it plays
// the query layer, which hands dedup one sorted stream of all replicas.
type replicaQueryable struct {
	// series per replica, each sorted by labels.
	replicas [][]storage.Series
	merge    func(storage.SeriesSet, *storage.SelectHints) storage.SeriesSet
}

func (q *replicaQueryable) Querier(_, _ int64) (storage.Querier, error) { return q, nil }

func (q *replicaQueryable) Select(_ context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var all []storage.Series
	for _, rs := range q.replicas {
		for _, s := range rs {
			if matches(s.Labels(), ms) {
				all = append(all, s)
			}
		}
	}
	// Stable: replicas of a series stay in replica order, as a k-way merge
	// of the stores' streams would leave them.
	slices.SortStableFunc(all, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return q.merge(&listSeriesSet{series: all}, hints)
}

func matches(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (q *replicaQueryable) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q *replicaQueryable) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q *replicaQueryable) Close() error { return nil }
