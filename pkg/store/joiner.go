package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// maxSeriesBytes bounds the chunk bytes one store may send for one copy of
// one series: a year of a series scraped every 15 s is some 3 MiB, so only a
// store that never ends a series reaches it.
const maxSeriesBytes = 64 << 20

// seriesJoiner turns the frames one store sends into whole series, each one
// copy of the series whose chunks do not overlap.
//
// A store may split a long series over consecutive frames; each continues in
// time where the one before ended. A querier asked to strip replica labels
// sends each replica's copy as a series of its own, with equal labels; the
// second copy starts again at the beginning of the range. A Thanos querier
// instead joins the copies into one series whose chunks overlap. The replica
// merge needs the copies apart, so the joiner joins frames that continue and
// splits chunks that overlap, keeping each chunk with the copy it most likely
// came from (see place).
//
// It also holds the store to the order it promises: the merge of sorted
// streams after it would silently give wrong answers on an unsorted one.
type seriesJoiner struct {
	lset   labels.Labels
	has    bool
	copies []storeSeries // of lset, from the current run of continuing frames
	end    int64         // greatest MaxTime in copies
	bytes  int           // chunk bytes held in copies
}

// add takes the next frame's series and appends to complete the series it
// completes.
func (j *seriesJoiner) add(complete []storeSeries, s *storepb.Series) ([]storeSeries, error) {
	lset := s.PromLabels()
	if !slices.IsSortedFunc(s.Chunks, byMinTime) {
		slices.SortStableFunc(s.Chunks, byMinTime)
	}
	if j.has {
		switch c := labels.Compare(lset, j.lset); {
		case c < 0:
			return complete, fmt.Errorf("series out of order: %s after %s", lset, j.lset)
		case c > 0:
			complete = j.flush(complete)
		case len(s.Chunks) > 0 && s.Chunks[0].MinTime <= j.end:
			// It reaches back in time: another copy of the series.
			complete = j.flush(complete)
		}
	}
	if !j.has {
		j.lset, j.has, j.end = lset, true, math.MinInt64
		if len(s.Chunks) == 0 {
			// Without chunks (skip_chunks) every frame is a copy.
			j.copies = append(j.copies, storeSeries{lset: lset})
			return complete, nil
		}
	}
	for _, c := range s.Chunks {
		j.bytes += chunkSize(c)
	}
	if j.bytes > maxSeriesBytes {
		return complete, fmt.Errorf("series %s holds more than %d MiB of chunks", lset, maxSeriesBytes>>20)
	}
	if len(j.copies) == 0 && inSequence(s.Chunks) {
		// The common case, a whole series in one frame: its chunks are
		// one copy as they are.
		j.copies = append(j.copies, storeSeries{lset: lset, chunks: slices.Clip(s.Chunks)})
		j.end = s.Chunks[len(s.Chunks)-1].MaxTime
		return complete, nil
	}
	for _, c := range s.Chunks {
		j.place(c)
	}
	return complete, nil
}

// inSequence reports whether chunks, sorted by MinTime, follow each other
// without overlapping.
func inSequence(chunks []storepb.AggrChunk) bool {
	for i := 1; i < len(chunks); i++ {
		if chunks[i].MinTime <= chunks[i-1].MaxTime {
			return false
		}
	}
	return true
}

// place adds c to the copy it continues best. A copy can take c only if it
// ended before c starts; among those, the one whose last sample is closest
// to a whole number of its scrape intervals before c's first: replicas
// scrape the same targets at the same interval but at different moments, so
// a copy's own next chunk starts in its phase, whatever the gap, while
// another replica's copy ends a few seconds off it.
func (j *seriesJoiner) place(c storepb.AggrChunk) {
	j.end = max(j.end, c.MaxTime)
	own := chunkSpacing(c)
	best, bestFit := -1, int64(0)
	for i := range j.copies {
		chunks := j.copies[i].chunks
		last := chunks[len(chunks)-1]
		if last.MaxTime >= c.MinTime {
			continue
		}
		spacing := chunkSpacing(last)
		if spacing == 0 {
			spacing = own
		}
		if fit := phaseDistance(c.MinTime-last.MaxTime, spacing); best < 0 || fit < bestFit {
			best, bestFit = i, fit
		}
	}
	if best < 0 {
		j.copies = append(j.copies, storeSeries{lset: j.lset, chunks: []storepb.AggrChunk{c}})
		return
	}
	j.copies[best].chunks = append(j.copies[best].chunks, c)
}

// flush appends the copies held to complete and forgets them.
func (j *seriesJoiner) flush(complete []storeSeries) []storeSeries {
	complete = append(complete, j.copies...)
	clear(j.copies)
	j.copies, j.has, j.bytes = j.copies[:0], false, 0
	return complete
}

func byMinTime(a, b storepb.AggrChunk) int { return cmp.Compare(a.MinTime, b.MinTime) }

func chunkSize(c storepb.AggrChunk) int {
	if c.Raw == nil {
		return 0
	}
	return len(c.Raw.Data)
}

// chunkSamples is a chunk's sample count, the first two bytes of every
// encoding.
func chunkSamples(c storepb.AggrChunk) int64 {
	if c.Raw == nil || len(c.Raw.Data) < 2 {
		return 0
	}
	return int64(binary.BigEndian.Uint16(c.Raw.Data))
}

// chunkSpacing estimates the scrape interval of a chunk from its time range
// and sample count (the first two bytes of every encoding), rounded to whole
// seconds as scrape intervals are; zero if it cannot tell.
func chunkSpacing(c storepb.AggrChunk) int64 {
	n := chunkSamples(c)
	if n < 2 || c.MaxTime <= c.MinTime {
		return 0
	}
	spacing := (c.MaxTime - c.MinTime) / (n - 1)
	if spacing >= 1000 {
		spacing = (spacing + 500) / 1000 * 1000
	}
	return spacing
}

// phaseDistance is how far gap is from a whole number of spacings; gap
// itself when the spacing is unknown.
func phaseDistance(gap, spacing int64) int64 {
	if spacing <= 0 {
		return gap
	}
	r := gap % spacing
	return min(r, spacing-r)
}
