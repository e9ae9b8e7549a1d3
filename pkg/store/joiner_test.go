package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// xorChunk encodes samples at ts (values are the timestamps) as a store
// sends them.
func xorChunk(t *testing.T, ts []int64) storepb.AggrChunk {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		app.Append(x, float64(x))
	}
	return storepb.AggrChunk{MinTime: ts[0], MaxTime: ts[len(ts)-1], Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: c.Bytes()}}
}

// scrapes returns the chunks of one replica scraping every 15 s from offset
// (ms) to end, 120 samples a chunk, missing the scrapes in [downFrom,
// downTo).
func scrapes(t *testing.T, offset, end, downFrom, downTo int64) []storepb.AggrChunk {
	var (
		chunks []storepb.AggrChunk
		cur    []int64
	)
	for ts := offset; ts < end; ts += 15_000 {
		if ts >= downFrom && ts < downTo {
			if len(cur) > 0 {
				chunks, cur = append(chunks, xorChunk(t, cur)), nil
			}
			continue
		}
		if cur = append(cur, ts); len(cur) == 120 {
			chunks, cur = append(chunks, xorChunk(t, cur)), nil
		}
	}
	if len(cur) > 0 {
		chunks = append(chunks, xorChunk(t, cur))
	}
	return chunks
}

func frame(lset labels.Labels, chunks ...storepb.AggrChunk) *storepb.Series {
	return &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(lset), Chunks: chunks}
}

func join(t *testing.T, frames ...*storepb.Series) ([]storeSeries, error) {
	t.Helper()
	var (
		j   seriesJoiner
		out []storeSeries
		err error
	)
	for _, f := range frames {
		if out, err = j.add(out, f); err != nil {
			return out, err
		}
	}
	return j.flush(out), nil
}

func TestSeriesJoiner(t *testing.T) {
	up := labels.FromStrings("__name__", "up")
	const day = 24 * 3600_000
	// Replica a scrapes on the minute, b 7 s later; a is down for an
	// hour and twenty minutes, b for forty minutes at another time.
	a := scrapes(t, 0, day, 3*3600_000+12_345, 4*3600_000+30*60_000)
	b := scrapes(t, 7_000, day, 10*3600_000, 10*3600_000+40*60_000)
	both := slices.SortedStableFunc(slices.Values(slices.Concat(a, b)), byMinTime)

	for _, tc := range []struct {
		name   string
		frames []*storepb.Series
		want   [][]storepb.AggrChunk
	}{
		{
			name:   "a series split over frames is one series",
			frames: []*storepb.Series{frame(up, a[:3]...), frame(up, a[3:10]...), frame(up, a[10:]...)},
			want:   [][]storepb.AggrChunk{a},
		},
		{
			name:   "a copy that starts over is a replica",
			frames: []*storepb.Series{frame(up, a[:5]...), frame(up, a[5:]...), frame(up, b...)},
			want:   [][]storepb.AggrChunk{a, b},
		},
		{
			// A Thanos querier joins the replicas into one series whose
			// chunks overlap; the phase of each chunk's first scrape
			// tells whose it is, across both outages.
			name:   "overlapping chunks are split by replica",
			frames: []*storepb.Series{frame(up, both...)},
			want:   [][]storepb.AggrChunk{a, b},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := join(t, tc.frames...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d copies, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !labels.Equal(got[i].lset, up) {
					t.Errorf("copy %d: labels %s", i, got[i].lset)
				}
				if !slices.EqualFunc(got[i].chunks, tc.want[i], func(x, y storepb.AggrChunk) bool { return x.MinTime == y.MinTime && x.MaxTime == y.MaxTime }) {
					t.Errorf("copy %d: %d chunks, want %d; first differing chunks are another replica's", i, len(got[i].chunks), len(tc.want[i]))
				}
			}
		})
	}
}

func TestSeriesJoinerRefuses(t *testing.T) {
	x, y := labels.FromStrings("__name__", "x"), labels.FromStrings("__name__", "y")
	if _, err := join(t, frame(y), frame(x)); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("unsorted series: %v, want an order error", err)
	}

	// A store that never ends a series: frame after frame, each later.
	var (
		j   seriesJoiner
		err error
	)
	big := make([]byte, 1<<20)
	big[1] = 120 // samples
	for i := int64(0); i < 1000 && err == nil; i++ {
		_, err = j.add(nil, frame(x, storepb.AggrChunk{MinTime: 2 * i, MaxTime: 2*i + 1, Raw: &storepb.Chunk{Type: storepb.Chunk_XOR, Data: big}}))
	}
	if err == nil || !strings.Contains(err.Error(), "more than 64 MiB") {
		t.Errorf("endless series: %v, want the series size bound", err)
	}
}
