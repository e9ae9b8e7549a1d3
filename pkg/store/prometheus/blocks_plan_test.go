package prometheus

import (
	"math"
	"testing"
)

func TestPlan(t *testing.T) {
	b := func(id string, mint, maxt int64, tombstones uint64) loadedBlock {
		lb := loadedBlock{ULID: id, MinTime: mint, MaxTime: maxt}
		lb.Stats.NumTombstones = tombstones
		return lb
	}
	empty := int64(math.MaxInt64)
	cases := []struct {
		name string
		view tsdbView
		end  int64
	}{
		{"no block list", tsdbView{headMin: 100}, math.MinInt64},
		{"no blocks", tsdbView{blocks: []loadedBlock{}, headMin: 100}, math.MinInt64},
		{"blocks then head", tsdbView{blocks: []loadedBlock{b("c", 20, 30, 0), b("a", 0, 10, 0), b("b", 10, 20, 0)}, headMin: 30}, 30},
		{"empty head", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 20, 0)}, headMin: empty}, 20},
		{"a gap between blocks", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 50, 60, 0)}, headMin: 65}, 60},
		{"a block reaching into the head", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 40, 0)}, headMin: 30}, 10},
		{"out-of-order window", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 20, 0), b("c", 20, 30, 0)}, headMin: 30, oooWindow: 15}, 10},
		{"overlapping blocks", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 20, 0), b("c", 15, 25, 0), b("d", 25, 30, 0)}, headMin: 30}, 10},
		{"a block inside another", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 40, 0), b("c", 20, 25, 0)}, headMin: 40}, 10},
		{"tombstones", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 0), b("b", 10, 20, 3), b("c", 20, 30, 0)}, headMin: 30}, 10},
		{"tombstones in the first block", tsdbView{blocks: []loadedBlock{b("a", 0, 10, 1), b("b", 10, 20, 0)}, headMin: 20}, math.MinInt64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := plan(c.view)
			if p.end != c.end {
				t.Errorf("end %d, want %d", p.end, c.end)
			}
			if len(p.metas) != len(c.view.blocks) {
				t.Errorf("%d metas for the cache, want every block's (%d)", len(p.metas), len(c.view.blocks))
			}
		})
	}
}
