package blocks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/thanos-io/thanos/pkg/store/storepb"
)

const (
	hour = int64(3600_000)
	step = int64(15_000)
)

// sample is one float, histogram or float histogram sample.
type sample struct {
	t  int64
	f  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

func (s sample) T() int64                      { return s.t }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return s.h }
func (s sample) FH() *histogram.FloatHistogram { return s.fh }
func (s sample) Copy() chunks.Sample           { return s }
func (s sample) Type() chunkenc.ValueType {
	switch {
	case s.h != nil:
		return chunkenc.ValHistogram
	case s.fh != nil:
		return chunkenc.ValFloatHistogram
	}
	return chunkenc.ValFloat
}

// writeBlock writes a 6 h block of float, histogram and float histogram
// series, with gaps, and returns its directory and meta.
func writeBlock(t *testing.T) (string, Meta) {
	t.Helper()
	var series []storage.Series
	for i := range 40 {
		lset := labels.FromStrings("__name__", "f", "i", fmt.Sprint(i), "odd", fmt.Sprint(i%2))
		var ss []chunks.Sample
		for ts := int64(i * 1000); ts < 6*hour; ts += step {
			if (ts/step)%(int64(i)+7) == 3 {
				continue // a missed scrape
			}
			ss = append(ss, sample{t: ts, f: float64(i) + float64(ts)/1000})
		}
		series = append(series, storage.NewListSeries(lset, ss))
	}
	for i := range 4 {
		var hs, fhs []chunks.Sample
		for j, ts := 0, int64(0); ts < 6*hour; j, ts = j+1, ts+step {
			hs = append(hs, sample{t: ts, h: tsdbutil.GenerateTestHistogram(int64(j + i))})
			fhs = append(fhs, sample{t: ts, fh: tsdbutil.GenerateTestFloatHistogram(int64(j + i))})
		}
		series = append(series,
			storage.NewListSeries(labels.FromStrings("__name__", "h", "i", fmt.Sprint(i)), hs),
			storage.NewListSeries(labels.FromStrings("__name__", "fh", "i", fmt.Sprint(i)), fhs))
	}
	dir := t.TempDir()
	path, err := tsdb.CreateBlock(series, dir, 24*hour, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	var m tsdb.BlockMeta
	b, err := os.ReadFile(filepath.Join(path, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return dir, Meta{ULID: m.ULID.String(), MinTime: m.MinTime, MaxTime: m.MaxTime}
}

// decoded is a series as text: labels and every sample in [mint, maxt].
func decoded(lset labels.Labels, it chunkenc.Iterator, mint, maxt int64) (string, error) {
	out := lset.String()
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		t := it.AtT()
		if t < mint || t > maxt {
			continue
		}
		switch vt {
		case chunkenc.ValFloat:
			_, v := it.At()
			out += fmt.Sprintf(" %d:%g", t, v)
		case chunkenc.ValHistogram:
			_, h := it.AtHistogram(nil)
			out += fmt.Sprintf(" %d:%s", t, h.String())
		case chunkenc.ValFloatHistogram:
			_, h := it.AtFloatHistogram(nil)
			out += fmt.Sprintf(" %d:%s", t, h.String())
		}
	}
	return out, it.Err()
}

// ours reads a selection through a Dir.
func ours(ctx context.Context, d *Dir, metas []Meta, mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	set, err := d.Acquire(metas, func(Meta) bool { return true })
	if err != nil {
		return nil, err
	}
	defer set.Close()
	ss := set.Select(ctx, mint, maxt, false, ms)
	var out []string
	for ss.Next() {
		lset, chks := ss.At()
		text := lset.String()
		for _, c := range chks {
			enc := map[storepb.Chunk_Encoding]chunkenc.Encoding{storepb.Chunk_XOR: chunkenc.EncXOR, storepb.Chunk_HISTOGRAM: chunkenc.EncHistogram, storepb.Chunk_FLOAT_HISTOGRAM: chunkenc.EncFloatHistogram}[c.Raw.Type]
			chk, err := chunkenc.FromData(enc, c.Raw.Data)
			if err != nil {
				return nil, err
			}
			part, err := decoded(labels.EmptyLabels(), chk.Iterator(nil), mint, maxt)
			if err != nil {
				return nil, err
			}
			text += part[len("{}"):]
		}
		out = append(out, text)
	}
	return out, ss.Err()
}

// theirs reads the same selection with Prometheus's own block querier.
func theirs(t *testing.T, dir string, mint, maxt int64, ms ...*labels.Matcher) []string {
	t.Helper()
	b, err := tsdb.OpenBlock(nil, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q, err := tsdb.NewBlockQuerier(b, mint, maxt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, ms...)
	var out []string
	for ss.Next() {
		s := ss.At()
		text, err := decoded(s.Labels(), s.Iterator(nil), mint, maxt)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, text)
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSelectMatchesPrometheus(t *testing.T) {
	dir, meta := writeBlock(t)
	d := NewDir(dir)
	defer d.Close()
	ctx := context.Background()
	cases := []struct {
		name       string
		mint, maxt int64
		ms         []*labels.Matcher
	}{
		{"all floats", 0, 6 * hour, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "f")}},
		{"cutting chunks", hour + 7, hour + 20*60_000 + 3, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "f")}},
		{"regex and negation", 2 * hour, 3 * hour, []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchRegexp, "__name__", "f|h"), labels.MustNewMatcher(labels.MatchNotEqual, "odd", "1")}},
		{"histograms", 0, 6 * hour, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", "h|fh")}},
		{"five minutes", 4 * hour, 4*hour + 5*60_000, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}},
		{"before the block", -hour, -1, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}},
		{"no match", 0, 6 * hour, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "none")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ours(ctx, d, []Meta{meta}, c.mint, c.maxt, c.ms...)
			if err != nil {
				t.Fatal(err)
			}
			want := theirs(t, filepath.Join(dir, meta.ULID), c.mint, c.maxt, c.ms...)
			// Prometheus's querier returns series without samples in
			// range when a chunk only touches it; so do we.
			if !slices.Equal(got, want) {
				t.Fatalf("got %d series, want %d\ngot  %.300q\nwant %.300q", len(got), len(want), got, want)
			}
		})
	}
}

// TestCorruptSegment: whatever byte of a chunk file is wrong, reading the
// block gives an error or the right answer, never a panic or a wrong one.
func TestCorruptSegment(t *testing.T) {
	dir, meta := writeBlock(t)
	ctx := context.Background()
	all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")}
	want, err := raw(ctx, NewDir(dir), meta, all)
	if err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, meta.ULID, "chunks", "000001")
	orig, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	detected := 0
	for range 300 {
		b := slices.Clone(orig)
		at := rng.Intn(len(b))
		b[at] ^= byte(1 + rng.Intn(255))
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		d := NewDir(dir)
		got, err := raw(ctx, d, meta, all)
		d.Close()
		if err != nil {
			detected++
			continue
		}
		if got != want {
			t.Fatalf("byte %d changed: a wrong answer without an error", at)
		}
	}
	if detected < 250 {
		t.Fatalf("only %d of 300 corruptions detected", detected)
	}

	// Cut short under an open Dir.
	if err := os.WriteFile(seg, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	d := NewDir(dir)
	defer d.Close()
	if _, err := ours(ctx, d, []Meta{meta}, 0, 6*hour, all...); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, int64(len(orig)/2)); err != nil {
		t.Fatal(err)
	}
	if _, err := ours(ctx, d, []Meta{meta}, 0, 6*hour, all...); err == nil {
		t.Fatal("no error reading a segment cut in half")
	}
}

// raw is every series of a selection over the whole block with its chunks'
// bytes, as text.
func raw(ctx context.Context, d *Dir, meta Meta, ms []*labels.Matcher) (string, error) {
	set, err := d.Acquire([]Meta{meta}, func(Meta) bool { return true })
	if err != nil {
		return "", err
	}
	defer set.Close()
	ss := set.Select(ctx, meta.MinTime, meta.MaxTime, false, ms)
	var b strings.Builder
	for ss.Next() {
		lset, chks := ss.At()
		b.WriteString(lset.String())
		for _, c := range chks {
			fmt.Fprintf(&b, " %d-%d:%d:%x", c.MinTime, c.MaxTime, c.Raw.Type, c.Raw.Data)
		}
	}
	return b.String(), ss.Err()
}

// TestAcquire: blocks stay open across reads, close once Prometheus no
// longer reports them and their last reader is done, and a block that is
// not where Prometheus says is ErrNotFound.
func TestAcquire(t *testing.T) {
	dir, meta := writeBlock(t)
	d := NewDir(dir)
	defer d.Close()
	all := func(Meta) bool { return true }
	s1, err := d.Acquire([]Meta{meta}, all)
	if err != nil {
		t.Fatal(err)
	}
	first := d.open[meta.ULID]
	s2, err := d.Acquire([]Meta{meta}, all)
	if err != nil {
		t.Fatal(err)
	}
	if d.open[meta.ULID] != first || first.refs != 2 {
		t.Fatalf("block reopened or miscounted: refs %d", first.refs)
	}
	s2.Close()
	s2.Close()
	// Prometheus no longer has it: it stays for s1, then goes.
	if _, err := d.Acquire(nil, all); err != nil {
		t.Fatal(err)
	}
	if d.open[meta.ULID] != first || !first.stale {
		t.Fatal("a block in use was dropped")
	}
	ss := s1.Select(context.Background(), 0, 6*hour, false, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "f")})
	n := 0
	for ss.Next() {
		n++
	}
	if ss.Err() != nil || n != 40 {
		t.Fatalf("read %d series from a block in use (err %v)", n, ss.Err())
	}
	s1.Close()
	if _, ok := d.open[meta.ULID]; ok {
		t.Fatal("an unreported block stays open after its last reader")
	}

	if _, err := d.Acquire([]Meta{{ULID: "01JAAAAAAAAAAAAAAAAAAAAAAA", MaxTime: 1}}, all); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a block not in the directory: %v, want ErrNotFound", err)
	}
	other := meta
	other.MaxTime++
	if _, err := d.Acquire([]Meta{other}, all); err == nil {
		t.Fatal("a block whose meta.json disagrees with Prometheus was opened")
	}
	if len(d.open) != 0 {
		t.Fatalf("%d blocks open after failed acquisitions", len(d.open))
	}
}
