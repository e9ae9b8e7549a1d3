package dedup_test

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
)

// fuzzReplicas decodes fuzz input into up to three replicas of one series
// and the chunk length to encode them with. data[0] picks the number of
// replicas and data[1] the chunk length; then each 3-byte record appends a
// sample to replica rec[0]: rec[1] seconds (and a quarter per unit of
// rec[2]%4) after that replica's last sample, with value from rec[2]: a
// stale marker (255), a counter reset to a small value (< 8), or the last
// value plus rec[2]/4.
func fuzzReplicas(data []byte) (replicas [][]groundtruth.Sample, chunkLen int) {
	if len(data) < 2 {
		return nil, 1
	}
	n := 1 + int(data[0])%3
	chunkLen = 1 + int(data[1])%32
	replicas = make([][]groundtruth.Sample, n)
	lastT := make([]int64, n)
	lastV := make([]float64, n)
	for rec := data[2:]; len(rec) >= 3; rec = rec[3:] {
		r := int(rec[0]) % n
		lastT[r] += 1 + int64(rec[1])*1000 + int64(rec[2]%4)*250
		v := lastV[r] + float64(rec[2])/4
		switch {
		case rec[2] == 255:
			v = math.Float64frombits(value.StaleNaN)
		case rec[2] < 8:
			v = float64(rec[2])
		}
		if !value.IsStaleNaN(v) {
			lastV[r] = v
		}
		replicas[r] = append(replicas[r], groundtruth.Sample{T: lastT[r], V: v})
	}
	return replicas, chunkLen
}

// FuzzMerge checks what must hold for any input: the merged series is
// sorted with no timestamp twice, and every sample came from some replica:
// its timestamp always, its value as well when read as a gauge (a counter's
// value may be held at another sample's). Seeking must keep to the same
// rules. The seed corpus is in testdata/fuzz/FuzzMerge.
func FuzzMerge(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, counter bool) {
		replicas, chunkLen := fuzzReplicas(data)
		lset := labels.FromStrings(model.MetricNameLabel, "x")
		set := &listSeriesSet{}
		plainSet := &listSeriesSet{}   // the same chunks, read by Prometheus's iterator
		inputs := map[int64][]uint64{} // timestamp -> value bits read then
		values := map[uint64]bool{}
		for _, samples := range replicas {
			if len(samples) == 0 {
				continue
			}
			var chunks []dedup.Chunk
			for i := 0; i < len(samples); i += chunkLen {
				chunks = append(chunks, xorChunks(t, samples[i:min(i+chunkLen, len(samples))])...)
			}
			set.series = append(set.series, dedup.NewChunkSeries(lset, chunks))
			plain := slices.Clone(chunks)
			for i := range plain {
				plain[i].Chunk = plainChunk{plain[i].Chunk}
			}
			plainSet.series = append(plainSet.series, dedup.NewChunkSeries(lset, plain))
			for _, s := range samples {
				inputs[s.T] = append(inputs[s.T], math.Float64bits(s.V))
				values[math.Float64bits(s.V)] = true
			}
		}
		hints := &storage.SelectHints{}
		if counter {
			hints.Func = "rate"
		}
		check := func(what string, ts int64, v float64, after int64) {
			t.Helper()
			if ts <= after {
				t.Fatalf("%s: sample at %d after one at %d", what, ts, after)
			}
			read, ok := inputs[ts]
			if !ok {
				t.Fatalf("%s: sample at %d, where no replica has one", what, ts)
			}
			bits := math.Float64bits(v)
			if !counter && !slices.Contains(read, bits) {
				t.Fatalf("%s: value %v at %d, replicas read %v", what, v, ts, read)
			}
			if !values[bits] {
				t.Fatalf("%s: value %v at %d read by no replica", what, v, ts)
			}
		}

		merged := dedup.NewSeriesSet(set, hints)
		if len(set.series) == 0 {
			if merged.Next() {
				t.Fatal("a series out of none")
			}
			return
		}
		if !merged.Next() {
			t.Fatal("no series")
		}
		series := merged.At()
		it := series.Iterator(nil)
		last, n := int64(math.MinInt64), 0
		for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
			ts, v := it.At()
			check("next", ts, v, last)
			last = ts
			n++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no samples out of some")
		}
		// The merge's own XOR decoder and its shortcuts give what
		// Prometheus's iterator, read the general way, gives.
		plainMerged := dedup.NewSeriesSet(plainSet, hints)
		plainMerged.Next()
		all := readBits(series)
		if want := readBits(plainMerged.At()); !slices.Equal(all, want) {
			t.Fatalf("merged %d samples %v, through Prometheus's iterator %d %v", len(all), all, len(want), want)
		}
		// Read a run at a time, to the end and to half way, it is the same.
		for _, maxt := range []int64{math.MaxInt64, int64(all[len(all)/2][0])} {
			if got, want := readRuns(t, series, maxt), upTo(all, maxt); !slices.Equal(got, want) {
				t.Fatalf("up to %d, a run at a time %d samples %v, a sample at a time %d %v", maxt, len(got), got, len(want), want)
			}
		}

		// Seek to every input timestamp in turn (and one past it), reading
		// one sample after each, through a reused iterator.
		it = series.Iterator(it)
		last = math.MinInt64
		for _, ts := range slices.Sorted(maps.Keys(inputs)) {
			for _, target := range []int64{ts, ts + 1} {
				typ := it.Seek(target)
				if typ == chunkenc.ValNone {
					continue
				}
				got, v := it.At()
				if got < target && got != last {
					t.Fatalf("seek %d: sample at %d", target, got)
				}
				if got != last {
					check("seek", got, v, last)
				}
				last = got
				if it.Next() != chunkenc.ValNone {
					got, v = it.At()
					check("next after seek", got, v, last)
					last = got
				}
			}
		}
	})
}

// plainChunk hides that a chunk is XOR encoded, so that the merge reads it
// with Prometheus's iterator instead of its own decoder.
type plainChunk struct{ chunkenc.Chunk }

func (plainChunk) Encoding() chunkenc.Encoding { return chunkenc.EncNone }

// readBits reads s as pairs of a timestamp and its value's bits.
func readBits(s storage.Series) [][2]uint64 {
	var out [][2]uint64
	it := s.Iterator(nil)
	for it.Next() != chunkenc.ValNone {
		t, v := it.At()
		out = append(out, [2]uint64{uint64(t), math.Float64bits(v)})
	}
	return out
}
