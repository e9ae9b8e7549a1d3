package prometheus

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// orderer re-establishes label order after external labels are attached,
// without buffering the response.
//
// Prometheus returns series sorted by their own labels (T). The Store API
// wants them sorted by the labels we send (F = T plus the external labels,
// minus the replica labels a querier asked us to drop). Inserting the same
// labels into every series keeps the order except in one case: a series Y
// whose labels are a proper prefix of a later series W's, when an inserted
// label sorts after Y's last label. Then W's next own label meets that
// inserted label in F and may sort first: {a="1"} < {a="1",b="1"} in T, but
// {a="1",c="x"} > {a="1",b="1",c="x"} in F. All such W follow Y directly in
// T order, so it is enough to hold Y (an "anchor") until the first series
// that does not extend it, and to hold behind it whatever sorts after it.
// Everything else is sent at once; the buffer holds at most the few series
// that share such a prefix.
type orderer struct {
	// lastInserted is the greatest name among the inserted labels.
	lastInserted string
	emit         func(*storepb.Series) error

	held    []*heldSeries // sorted by F; stable for equal F
	anchors []*heldSeries // active anchors; each extends the one below it
}

type heldSeries struct {
	key      labels.Labels // T: the order Prometheus sent it in
	final    labels.Labels // F: the order it must leave in
	series   *storepb.Series
	resolved bool
}

func newOrderer(inserted labels.Labels, emit func(*storepb.Series) error) *orderer {
	o := &orderer{emit: emit}
	inserted.Range(func(l labels.Label) { o.lastInserted = max(o.lastInserted, l.Name) })
	return o
}

// push takes the next series in T order.
func (o *orderer) push(key, final labels.Labels, s *storepb.Series) error {
	for len(o.anchors) > 0 && !isPrefix(o.anchors[len(o.anchors)-1].key, key) {
		o.anchors[len(o.anchors)-1].resolved = true
		o.anchors = o.anchors[:len(o.anchors)-1]
	}
	anchor := lastName(key) < o.lastInserted
	if !anchor && (len(o.held) == 0 || labels.Compare(final, o.held[0].final) < 0) {
		if err := o.emit(s); err != nil {
			return err
		}
		return o.release()
	}
	h := &heldSeries{key: key, final: final, series: s, resolved: !anchor}
	i, _ := slices.BinarySearchFunc(o.held, h, func(a, b *heldSeries) int {
		if c := labels.Compare(a.final, b.final); c != 0 {
			return c
		}
		return -1 // equal F: after the ones already held
	})
	o.held = slices.Insert(o.held, i, h)
	if anchor {
		o.anchors = append(o.anchors, h)
	}
	return o.release()
}

// release sends held series from the front while nothing still to come can
// sort before them.
func (o *orderer) release() error {
	n := 0
	for ; n < len(o.held) && o.held[n].resolved; n++ {
		if err := o.emit(o.held[n].series); err != nil {
			return err
		}
		o.held[n] = nil
	}
	o.held = o.held[n:]
	return nil
}

// flush sends everything held; the input has ended.
func (o *orderer) flush() error {
	for _, h := range o.held {
		h.resolved = true
	}
	o.anchors = o.anchors[:0]
	return o.release()
}

// The helpers below index labels.Labels as a slice: the slicelabels build
// tag, which every build of this module uses, makes it one.

func lastName(ls labels.Labels) string {
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1].Name
}

// isPrefix reports whether p's labels start q's (equal sets included).
func isPrefix(p, q labels.Labels) bool {
	return len(p) <= len(q) && slices.Equal(p, q[:len(p)])
}
