package prometheus

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/tandem-metrics/tandem/pkg/store/blocks"
)

// tsdbView is what the sidecar knows of Prometheus's TSDB to decide which
// part of a read its persisted blocks can answer.
type tsdbView struct {
	blocks    []loadedBlock // nil: not known (Prometheus before 3.6 has no blocks API; or it failed)
	headMin   int64         // math.MaxInt64: the head is empty or its bound unknown
	oooWindow int64
}

// loadedBlock is one entry of /api/v1/status/tsdb/blocks.
type loadedBlock struct {
	ULID    string `json:"ulid"`
	MinTime int64  `json:"minTime"`
	MaxTime int64  `json:"maxTime"`
	Stats   struct {
		NumTombstones uint64 `json:"numTombstones"`
	} `json:"stats"`
}

// loadedBlocks asks Prometheus which blocks it has loaded.
func (c *Client) loadedBlocks(ctx context.Context) ([]loadedBlock, error) {
	var data struct {
		Blocks []loadedBlock `json:"blocks"`
	}
	if _, err := c.api(ctx, "/api/v1/status/tsdb/blocks", nil, &data); err != nil {
		return nil, err
	}
	if data.Blocks == nil {
		data.Blocks = []loadedBlock{}
	}
	return data.Blocks, nil
}

// blockPlan is how one read is split: the blocks answer [mint, end), remote
// read answers from end on. Any time may go through remote read, which
// sees everything Prometheus has; the blocks take only the part that no
// other data of Prometheus's can touch.
type blockPlan struct {
	metas []blocks.Meta // every block Prometheus reports, for the cache
	end   int64         // math.MinInt64: blocks answer nothing
	// headMin is the oldest sample of the head; math.MaxInt64 if the head
	// is empty or its bound unknown.
	headMin int64
}

// plan decides the split for v. The blocks answer up to the first time
// where something else might hold data too: a block that overlaps another
// (Prometheus merges them), a block with deletions (their tombstones
// would have to be applied), and the head, where samples in order come
// after the newest block but samples out of order may go back by the
// out-of-order window.
func plan(v tsdbView) blockPlan {
	p := blockPlan{end: math.MinInt64, headMin: v.headMin}
	if len(v.blocks) == 0 {
		return p
	}
	bs := slices.Clone(v.blocks)
	slices.SortFunc(bs, func(a, b loadedBlock) int {
		if a.MinTime != b.MinTime {
			return cmp.Compare(a.MinTime, b.MinTime)
		}
		return cmp.Compare(a.MaxTime, b.MaxTime)
	})
	limit := int64(math.MaxInt64)
	if v.headMin != math.MaxInt64 {
		limit = v.headMin - max(v.oooWindow, 0)
	}
	for i, b := range bs {
		p.metas = append(p.metas, blocks.Meta{ULID: b.ULID, MinTime: b.MinTime, MaxTime: b.MaxTime})
		if b.Stats.NumTombstones > 0 {
			limit = min(limit, b.MinTime)
		}
		for _, a := range bs[:i] {
			if a.MaxTime > b.MinTime {
				limit = min(limit, a.MinTime)
			}
		}
	}
	// A block that reaches past the limit is left to remote read whole,
	// and the limit moves to its start.
	for changed := true; changed; {
		changed = false
		for _, b := range bs {
			if b.MaxTime > limit && b.MinTime < limit {
				limit, changed = b.MinTime, true
			}
		}
	}
	for _, b := range bs {
		if b.MaxTime <= limit {
			p.end = max(p.end, b.MaxTime)
		}
	}
	return p
}

// changeLog logs a warning for an error unless it is the one it logged
// last: a failure that repeats at every refresh or read is said once.
type changeLog struct {
	mu   sync.Mutex
	last string
}

func (c *changeLog) warn(logger *slog.Logger, msg string, err error, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err.Error() != c.last {
		c.last = err.Error()
		logger.Warn(msg, append(args, "err", err)...)
	}
}
