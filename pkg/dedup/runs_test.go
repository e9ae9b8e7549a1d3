package dedup_test

import (
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/internal/groundtruth"
	"github.com/tandem-metrics/tandem/pkg/dedup"
	"github.com/tandem-metrics/tandem/pkg/floats"
)

// floatRuns is how a reader that keeps whole series reads the merge.
type floatRuns interface {
	AppendFloats(dst []floats.Sample, maxt int64) []floats.Sample
}

// readRuns reads s up to maxt as such a reader does: a sample by Next, then
// the run after it by AppendFloats if the iterator has it (the series of
// one replica is not merged, and read a sample at a time).
func readRuns(tb testing.TB, s storage.Series, maxt int64) [][2]uint64 {
	tb.Helper()
	it := s.Iterator(nil)
	runs, _ := it.(floatRuns)
	var out [][2]uint64
	var buf []floats.Sample
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		if t > maxt {
			break
		}
		buf = append(buf[:0], floats.Sample{T: t, F: v})
		if runs != nil {
			buf = runs.AppendFloats(buf, maxt)
		}
		for _, s := range buf {
			out = append(out, [2]uint64{uint64(s.T), math.Float64bits(s.F)})
		}
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// upTo is the samples of read at or before maxt.
func upTo(read [][2]uint64, maxt int64) [][2]uint64 {
	n := 0
	for n < len(read) && int64(read[n][0]) <= maxt {
		n++
	}
	return read[:n]
}

// TestAppendFloatsReadsAsNext checks that reading the merge a run at a time
// gives, bit for bit, what reading it a sample at a time gives, up to any
// end: counters with resets and gauges, replicas with outages, missed
// scrapes and jitter.
func TestAppendFloatsReadsAsNext(t *testing.T) {
	for _, missRate := range []float64{0, groundtruth.DefaultConfig().MissRate, 0.2} {
		cfg := groundtruth.DefaultConfig()
		cfg.Targets, cfg.MissRate = 3, missRate
		ds, err := groundtruth.Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		replicas := replicaSeries(t, ds, groundtruth.ReplicaA, groundtruth.ReplicaB)
		for _, hints := range []*storage.SelectHints{nil, {Func: "rate"}} {
			q := &replicaQueryable{replicas: replicas, merge: dedup.NewSeriesSet}
			set := q.Select(t.Context(), true, hints)
			for set.Next() {
				s := set.At()
				if it, ok := s.Iterator(nil).(floatRuns); !ok {
					t.Fatalf("the merge's iterator %T does not append runs", it)
				}
				want := readBits(s)
				if len(want) == 0 {
					t.Fatalf("%s: no samples", s.Labels())
				}
				ends := []int64{math.MaxInt64, int64(want[len(want)/3][0]), int64(want[len(want)/2][0]) - 1}
				for _, maxt := range ends {
					if got, want := readRuns(t, s, maxt), upTo(want, maxt); !slices.Equal(got, want) {
						t.Fatalf("miss rate %v, hints %v, %s up to %d: %d samples a run at a time, %d a sample at a time; first difference at %d",
							missRate, hints, s.Labels(), maxt, len(got), len(want), firstDifference(got, want))
					}
				}
			}
		}
	}
}

func firstDifference(a, b [][2]uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
