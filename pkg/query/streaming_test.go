package query_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
)

// TestStreamingDecodesOnDemand opens an iterator on every series of a
// selection before it reads from any, as Thanos's engine does. Through
// Streaming, opening them decodes nothing; read ahead, every series is
// decoded whole as its iterator opens, and all of them are held at once.
// Either way every series reads whole.
func TestStreamingDecodesOnDemand(t *testing.T) {
	const series, samples = 200, 480
	clients, _, _ := manyStores(t, 1, series, 0)
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	q := query.NewQueryable(proxy, query.Options{Dedup: true, ReplicaLabels: []string{"replica"}})
	decoded := uint64(series * samples * 16) // bytes of the samples as (t, f) pairs

	cases := []struct {
		name      string
		queryable storage.Queryable
		atLeast   uint64 // allocated opening the iterators
		below     uint64
	}{
		{"streaming", q.Streaming(), 0, decoded / 4},
	}
	if runtime.GOMAXPROCS(0) > 1 { // reading ahead is off on one CPU
		cases = append(cases, struct {
			name      string
			queryable storage.Queryable
			atLeast   uint64
			below     uint64
		}{"read ahead", q, decoded, 1 << 40})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			querier, err := c.queryable.Querier(0, samples*15_000)
			if err != nil {
				t.Fatal(err)
			}
			defer querier.Close()
			set := querier.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "many_total"))
			var all []storage.Series
			for set.Next() {
				all = append(all, set.At())
			}
			if err := set.Err(); err != nil || len(all) != series {
				t.Fatalf("%d series, error %v; want %d", len(all), err, series)
			}

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			its := make([]chunkenc.Iterator, len(all))
			for i, s := range all {
				its[i] = s.Iterator(nil)
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got < c.atLeast || got >= c.below {
				t.Errorf("opening %d iterators allocated %d bytes, want at least %d and below %d (%d bytes of samples)", series, got, c.atLeast, c.below, decoded)
			}
			for i, it := range its {
				n := 0
				for it.Next() == chunkenc.ValFloat {
					n++
				}
				if it.Err() != nil || n != samples {
					t.Fatalf("series %d: %d samples, error %v; want %d", i, n, it.Err(), samples)
				}
			}
		})
	}
}
