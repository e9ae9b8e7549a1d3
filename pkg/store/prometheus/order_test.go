package prometheus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

// TestOrdererRandom pushes random label sets, sorted by their own labels,
// through the shaper and the orderer and checks that they leave sorted by
// their final labels, each exactly once, while holding few at a time.
func TestOrdererRandom(t *testing.T) {
	names := []string{"__name__", "a", "b", "cluster", "d", "job", "replica", "z"}
	for _, tc := range []struct {
		external map[string]string
		drop     []string
	}{
		{external: map[string]string{"cluster": "c", "replica": "r"}},
		{external: map[string]string{"cluster": "c", "replica": "r"}, drop: []string{"replica"}},
		{external: map[string]string{"replica": "r"}, drop: []string{"replica"}},
		{external: map[string]string{"zz": "1"}},
		{external: map[string]string{"0": "1", "cluster": "c"}},
	} {
		t.Run(fmt.Sprint(tc.external, tc.drop), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			ext := labels.FromMap(tc.external)
			for round := range 200 {
				var in []labels.Labels
				seen := map[string]bool{}
				for range 1 + rng.IntN(40) {
					b := labels.NewBuilder(labels.EmptyLabels())
					for _, n := range names {
						if ext.Has(n) || (n != "__name__" && rng.IntN(3) == 0) {
							continue
						}
						b.Set(n, fmt.Sprint(rng.IntN(3)))
					}
					ls := b.Labels()
					if !seen[ls.String()] {
						seen[ls.String()] = true
						in = append(in, ls)
					}
				}
				slices.SortFunc(in, labels.Compare)

				sh := newShaper(ext, tc.drop)
				var out []labels.Labels
				maxHeld := 0
				o := newOrderer(sh.inserted, func(s *storepb.Series) error {
					out = append(out, labelpb.ZLabelsToPromLabels(s.Labels))
					return nil
				})
				for _, ls := range in {
					// As Prometheus sends it: its external labels merged in.
					var pl []prompb.Label
					merged := labels.NewBuilder(ext)
					ls.Range(func(l labels.Label) { merged.Set(l.Name, l.Value) })
					merged.Labels().Range(func(l labels.Label) { pl = append(pl, prompb.Label{Name: l.Name, Value: l.Value}) })
					key, final, conflict := sh.shape(pl)
					if conflict != "" {
						t.Fatalf("unexpected conflict %q for %s", conflict, ls)
					}
					if !labels.Equal(key, ls) {
						t.Fatalf("key %s, want %s", key, ls)
					}
					if err := o.push(key, final, &storepb.Series{Labels: labelpb.ZLabelsFromPromLabels(final)}); err != nil {
						t.Fatal(err)
					}
					maxHeld = max(maxHeld, len(o.held))
				}
				if err := o.flush(); err != nil {
					t.Fatal(err)
				}
				if len(out) != len(in) {
					t.Fatalf("round %d: %d series out, %d in", round, len(out), len(in))
				}
				if !slices.IsSortedFunc(out, labels.Compare) {
					t.Fatalf("round %d: output not sorted:\nin  %v\nout %v", round, in, out)
				}
				if maxHeld > len(in) {
					t.Fatalf("held %d of %d", maxHeld, len(in))
				}
			}
		})
	}
}
