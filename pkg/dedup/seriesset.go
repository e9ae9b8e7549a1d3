// Package dedup merges the replicas of a series into one series.
//
// Prometheus HA pairs scrape the same targets, so once the replica labels are
// stripped, each series arrives once per replica. A replica misses scrapes,
// goes down, scrapes a few seconds apart from its peer and may have a skewed
// clock. The merge here fills one replica's gaps from another's data down to
// a single missed scrape, invents nothing where no replica has data, never
// interleaves near-duplicate samples, and keeps counters monotone across a
// move between replicas unless the target really restarted.
package dedup

import (
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// SeriesSet merges consecutive series with equal labels, each one replica's
// copy of the same series, into one series.
type SeriesSet struct {
	set   storage.SeriesSet
	hints *storage.SelectHints

	peek    storage.Series // first series of the next group
	hasPeek bool
	started bool
	cur     storage.Series
}

// NewSeriesSet returns a set that yields one series per group of consecutive
// series with equal labels in set, which must be sorted by labels. The merged
// series' samples follow one replica and fill its gaps from the others.
// hints, which may be nil, tell whether the query reads the series as a
// counter.
func NewSeriesSet(set storage.SeriesSet, hints *storage.SelectHints) storage.SeriesSet {
	return &SeriesSet{set: set, hints: hints}
}

func (s *SeriesSet) Next() bool {
	if !s.started {
		s.started = true
		if s.hasPeek = s.set.Next(); s.hasPeek {
			s.peek = s.set.At()
		}
	}
	if !s.hasPeek {
		return false
	}
	first := s.peek
	var replicas []storage.Series
	s.hasPeek = false
	for s.set.Next() {
		next := s.set.At()
		if !labels.Equal(next.Labels(), first.Labels()) {
			s.peek, s.hasPeek = next, true
			break
		}
		if replicas == nil {
			replicas = []storage.Series{first}
		}
		replicas = append(replicas, next)
	}
	if replicas == nil {
		replicas = []storage.Series{first}
	}
	s.cur = Merge(first.Labels(), replicas, s.hints)
	return true
}

// Merge returns the series that follows one of replicas, all copies of the
// series lset, and fills its gaps from the others (see iterator). hints,
// which may be nil, tell whether the query reads the series as a counter.
func Merge(lset labels.Labels, replicas []storage.Series, hints *storage.SelectHints) storage.Series {
	if len(replicas) == 1 {
		// A single replica needs no merging.
		return replicas[0]
	}
	return &series{lset: lset, replicas: replicas, counter: isCounter(hints, lset)}
}

func (s *SeriesSet) At() storage.Series { return s.cur }

func (s *SeriesSet) Err() error { return s.set.Err() }

func (s *SeriesSet) Warnings() annotations.Annotations { return s.set.Warnings() }

// series is the merge of one series' replicas.
type series struct {
	lset     labels.Labels
	replicas []storage.Series
	counter  bool
}

func (s *series) Labels() labels.Labels { return s.lset }

func (s *series) Iterator(reuse chunkenc.Iterator) chunkenc.Iterator {
	it, ok := reuse.(*iterator)
	if !ok {
		it = &iterator{}
	}
	if cap(it.replicas) < len(s.replicas) {
		it.replicas = make([]replica, len(s.replicas))
	}
	it.replicas = it.replicas[:len(s.replicas)]
	for i, rs := range s.replicas {
		ri := rs.Iterator(it.replicas[i].it)
		chunks, _ := ri.(*chunksIterator)
		it.replicas[i] = replica{it: ri, chunks: chunks, fh: it.replicas[i].fh}
	}
	it.reset(s.replicas, s.counter)
	return it
}

// isCounter tells whether the query treats the series as a counter: from the
// function applied to it if that says, else from the metric name's suffix
// by the Prometheus naming conventions.
func isCounter(hints *storage.SelectHints, lset labels.Labels) bool {
	if hints != nil {
		switch hints.Func {
		case "rate", "increase", "irate", "resets":
			return true
		case "delta", "idelta", "deriv", "predict_linear", "changes",
			"avg_over_time", "min_over_time", "max_over_time", "stddev_over_time", "stdvar_over_time",
			"quantile_over_time", "mad_over_time", "double_exponential_smoothing", "holt_winters":
			return false
		}
	}
	name := lset.Get(model.MetricNameLabel)
	for _, suffix := range []string{"_total", "_count", "_sum", "_bucket"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
