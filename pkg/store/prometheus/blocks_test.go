package prometheus_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/store/blocks"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// The history of the block tests: 6 h in three 2 h blocks, then an hour in
// Prometheus's head. Series "old" ends inside the blocks, series "new"
// starts in the head.
const (
	blockHours = 6
	headHours  = 1
)

type historySeries struct {
	labels   map[string]string
	from, to int64 // [from, to) in ms
}

func blockHistory() []historySeries {
	end := base + (blockHours+headHours)*3600_000
	split := base + blockHours*3600_000
	return []historySeries{
		{map[string]string{"__name__": "m", "job": "a", "instance": "1"}, base, end},
		{map[string]string{"__name__": "m", "job": "a", "instance": "2"}, base + 7_000, end},
		{map[string]string{"__name__": "m", "job": "b", "instance": "1"}, base, end},
		{map[string]string{"__name__": "m", "job": "old"}, base, base + 3*3600_000 + 120_000},
		{map[string]string{"__name__": "m", "job": "new"}, split + 600_000, end},
		// Own labels that an external label overrides, and a prefix pair.
		{map[string]string{"__name__": "m", "cluster": "other", "job": "c"}, base, end},
		{map[string]string{"__name__": "p", "a": "1"}, base, end},
		{map[string]string{"__name__": "p", "a": "1", "b": "1"}, base, end},
	}
}

// historyValue is the value of series i at t.
func historyValue(i int, t int64) float64 { return float64(i)*1e6 + float64((t-base)/1000) }

// families renders the samples of the history in [from, to).
func families(hs []historySeries, from, to int64) []promtest.Family {
	byName := map[string]*promtest.Family{}
	var names []string
	for i, h := range hs {
		name := h.labels["__name__"]
		f := byName[name]
		if f == nil {
			f = &promtest.Family{Name: name, Type: "gauge"}
			byName[name] = f
			names = append(names, name)
		}
		s := promtest.Series{Labels: map[string]string{}}
		for k, v := range h.labels {
			if k != "__name__" {
				s.Labels[k] = v
			}
		}
		for t := h.from; t < min(h.to, to); t += step {
			if t < from {
				continue
			}
			s.Samples = append(s.Samples, promtest.Sample{T: t, V: historyValue(i, t)})
		}
		if len(s.Samples) > 0 {
			f.Series = append(f.Series, s)
		}
	}
	var out []promtest.Family
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out
}

// blockEnv is one Prometheus with the history, and a sidecar over it that
// reads its blocks.
type blockEnv struct {
	*env
	reg  *promclient.Registry
	data string
}

func setupBlocks(t *testing.T, dirOf func(data string) string) *blockEnv {
	t.Helper()
	hs := blockHistory()
	split := base + blockHours*3600_000
	data := t.TempDir()
	promtest.CreateBlocks(t, data, promtest.OpenMetrics(families(hs, base, split)...))
	prom := promtest.Start(t, promtest.Config{DataDir: data, ExternalLabels: external,
		Args: []string{"--web.enable-remote-write-receiver", "--web.enable-admin-api"}})
	prom.RemoteWrite(t, families(hs, split, split+headHours*3600_000)...)
	reg := promclient.NewRegistry()
	e := serveSidecarWith(t, prom.URL(), promstore.TargetOptions{MaxAge: 200 * time.Millisecond, Timeout: time.Minute, Blocks: true},
		blocks.NewDir(dirOf(data)), reg)
	e.prom = prom
	return &blockEnv{env: e, reg: reg, data: data}
}

// truth is what a Series call over [mint, maxt] must return, by the history.
func truth(hs []historySeries, match func(map[string]string) bool, mint, maxt int64, deleted func(i int, t int64) bool) []gotSeries {
	var out []gotSeries
	for i, h := range hs {
		if !match(h.labels) {
			continue
		}
		b := labels.NewBuilder(labels.FromMap(h.labels))
		for k, v := range external {
			b.Set(k, v)
		}
		g := gotSeries{labels: b.Labels()}
		for t := h.from; t < h.to; t += step {
			if t >= mint && t <= maxt && (deleted == nil || !deleted(i, t)) {
				g.samples = append(g.samples, promtest.Sample{T: t, V: historyValue(i, t)})
			}
		}
		if len(g.samples) > 0 {
			out = append(out, g)
		}
	}
	sortSeries(out)
	return out
}

func sortSeries(s []gotSeries) {
	slices.SortFunc(s, func(a, b gotSeries) int { return labels.Compare(a.labels, b.labels) })
}

// blockBytes is what the sidecar has read from blocks so far.
func (e *blockEnv) blockBytes(t *testing.T) float64 {
	t.Helper()
	return counterValue(t, e.reg, "tandem_sidecar_block_chunk_bytes_total")
}

// counterValue is the value of the counter name, without labels, on reg.
func counterValue(t *testing.T, reg *promclient.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

type blockCase struct {
	name       string
	mint, maxt int64
	matchers   []storepb.LabelMatcher
	match      func(map[string]string) bool
	fromBlocks bool // some of the answer must come from blocks
}

func blockCases() []blockCase {
	h := int64(3600_000)
	split := base + blockHours*h
	end := split + headHours*h
	all := func(map[string]string) bool { return true }
	isM := func(l map[string]string) bool { return l["__name__"] == "m" }
	m := []storepb.LabelMatcher{eq("__name__", "m")}
	return []blockCase{
		{"everything", base, end, []storepb.LabelMatcher{{Type: storepb.LabelMatcher_RE, Name: "__name__", Value: ".+"}}, all, true},
		{"inside one block, cutting chunks", base + h/2 + 7, base + h + 11, m, isM, true},
		{"across two blocks", base + 2*h - 3*60_000, base + 2*h + 5*60_000, m, isM, true},
		{"across blocks and head", split - 30*60_000, split + 30*60_000, m, isM, true},
		{"head only", split + 5*60_000, end, m, isM, false},
		{"instant at the newest block's end", split - 5*60_000, split - 1, m, isM, true},
		{"regex and negation", base, end,
			[]storepb.LabelMatcher{eq("__name__", "m"), {Type: storepb.LabelMatcher_NRE, Name: "job", Value: "b|c"}},
			func(l map[string]string) bool { return l["__name__"] == "m" && l["job"] != "b" && l["job"] != "c" }, true},
		{"external label matcher", base, end, []storepb.LabelMatcher{eq("__name__", "p"), eq("replica", "r1")},
			func(l map[string]string) bool { return l["__name__"] == "p" }, true},
		{"nothing matches", base, end, []storepb.LabelMatcher{eq("__name__", "none")}, func(map[string]string) bool { return false }, false},
	}
}

// TestSeriesFromBlocks asks a sidecar that reads Prometheus's blocks from
// its data directory, dozens of calls at once, and holds every answer
// against the history written, samples by value, across blocks and head.
func TestSeriesFromBlocks(t *testing.T) {
	e := setupBlocks(t, func(data string) string { return data })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitBlocksListed(ctx, t, e.prom.URL(), 3)

	cases := blockCases()
	before := e.blockBytes(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(cases))
	for round := range 4 {
		for _, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &storepb.SeriesRequest{MinTime: c.mint, MaxTime: c.maxt, Matchers: c.matchers, ResponseBatchSize: int64(round * 3)}
				got, _, _, err := seriesNoFatal(ctx, e.client, req)
				if err == nil {
					err = matchTruth(got, truth(blockHistory(), c.match, c.mint, c.maxt, nil), c.mint, c.maxt)
				}
				if err != nil {
					errs <- fmt.Errorf("%s (round %d): %w", c.name, round, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if after := e.blockBytes(t); after <= before {
		t.Fatalf("no chunk bytes read from blocks (%v before, %v after)", before, after)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.blockBytes(t)
			req := &storepb.SeriesRequest{MinTime: c.mint, MaxTime: c.maxt, Matchers: c.matchers, SkipChunks: true}
			got, _, _ := series(ctx, t, e.client, req)
			wantLabels := truth(blockHistory(), c.match, c.mint, c.maxt, nil)
			if len(got) != len(wantLabels) {
				t.Fatalf("SkipChunks: %d series, want %d", len(got), len(wantLabels))
			}
			for i := range got {
				if !labels.Equal(got[i].labels, wantLabels[i].labels) || got[i].chunks != 0 {
					t.Fatalf("SkipChunks: series %d is %v with %d chunks, want %v with none", i, got[i].labels, got[i].chunks, wantLabels[i].labels)
				}
			}
			req.SkipChunks = false
			// One message per series, its chunks from blocks and head
			// together.
			if got, _, frames := series(ctx, t, e.client, req); frames != len(got) {
				t.Errorf("%d series in %d messages", len(got), frames)
			}
			if read := e.blockBytes(t) - before; c.fromBlocks != (read > 0) {
				t.Errorf("read %v bytes from blocks; want some: %v", read, c.fromBlocks)
			}
		})
	}
}

// TestSeriesFromBlocksLimit stops at the client's series limit, counting a
// series whose chunks come from blocks and head once.
func TestSeriesFromBlocksLimit(t *testing.T) {
	e := setupBlocks(t, func(data string) string { return data })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitBlocksListed(ctx, t, e.prom.URL(), 3)
	split := base + blockHours*3600_000
	req := &storepb.SeriesRequest{MinTime: split - 3600_000, MaxTime: split + 3600_000, Matchers: []storepb.LabelMatcher{eq("__name__", "m")}, Limit: 2}
	got, _, _ := series(ctx, t, e.client, req)
	all := truth(blockHistory(), func(l map[string]string) bool { return l["__name__"] == "m" }, req.MinTime, req.MaxTime, nil)
	if err := matchTruth(got, all[:2], req.MinTime, req.MaxTime); err != nil {
		t.Fatal(err)
	}
}

// TestSeriesBlocksElsewhere: a --tsdb.path that does not hold Prometheus's
// blocks costs speed, not data.
func TestSeriesBlocksElsewhere(t *testing.T) {
	e := setupBlocks(t, func(string) string { return t.TempDir() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitBlocksListed(ctx, t, e.prom.URL(), 3)
	for _, c := range blockCases() {
		req := &storepb.SeriesRequest{MinTime: c.mint, MaxTime: c.maxt, Matchers: c.matchers}
		got, _, _ := series(ctx, t, e.client, req)
		if err := matchTruth(got, truth(blockHistory(), c.match, c.mint, c.maxt, nil), c.mint, c.maxt); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if read := e.blockBytes(t); read != 0 {
		t.Fatalf("read %v bytes from blocks in an empty directory", read)
	}
}

// TestSeriesFromBlocksWithDeletions: samples deleted through Prometheus's
// admin API stay deleted; the block with tombstones is read through remote
// read, which applies them.
func TestSeriesFromBlocksWithDeletions(t *testing.T) {
	e := setupBlocks(t, func(data string) string { return data })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitBlocksListed(ctx, t, e.prom.URL(), 3)
	h := int64(3600_000)
	from, to := base+2*h+10*60_000, base+2*h+40*60_000
	q := url.Values{"match[]": {`m{job="a"}`}, "start": {fmt.Sprint(float64(from) / 1000)}, "end": {fmt.Sprint(float64(to) / 1000)}}
	resp, err := http.Post(e.prom.URL()+"/api/v1/admin/tsdb/delete_series?"+q.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete_series: %s", resp.Status)
	}
	hs := blockHistory()
	deleted := func(i int, ts int64) bool { return hs[i].labels["job"] == "a" && ts >= from && ts <= to }
	isM := func(l map[string]string) bool { return l["__name__"] == "m" }
	// The sidecar sees the tombstones within its refresh.
	wait.Until(t, 10*time.Second, "the deleted samples gone", func() error {
		req := &storepb.SeriesRequest{MinTime: base, MaxTime: base + 7*h, Matchers: []storepb.LabelMatcher{eq("__name__", "m")}}
		got, _, _, err := seriesNoFatal(ctx, e.client, req)
		if err != nil {
			return err
		}
		return matchTruth(got, truth(hs, isM, req.MinTime, req.MaxTime, deleted), req.MinTime, req.MaxTime)
	})
}

// waitBlocksListed waits until Prometheus reports n blocks loaded.
func waitBlocksListed(ctx context.Context, t *testing.T, promURL string, n int) {
	t.Helper()
	wait.Until(t, 30*time.Second, fmt.Sprintf("%d blocks loaded", n), func() error {
		if got := listedBlocks(ctx, t, promURL); len(got) != n {
			return fmt.Errorf("%d blocks loaded, want %d", len(got), n)
		}
		return nil
	})
}

type listedBlock struct {
	MinTime int64 `json:"minTime"`
	MaxTime int64 `json:"maxTime"`
}

// listedBlocks is what Prometheus's blocks API says it has loaded.
func listedBlocks(ctx context.Context, t *testing.T, promURL string) []listedBlock {
	t.Helper()
	r := e2etest.API(ctx, t, promURL, "/api/v1/status/tsdb/blocks", nil)
	var data struct {
		Blocks []listedBlock `json:"blocks"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("blocks API: %v: %s", err, r.Data)
	}
	return data.Blocks
}

// matchTruth compares an answer with the truth over [mint, maxt]: chunks
// from blocks are whole, so samples outside it may come too.
func matchTruth(got, want []gotSeries, mint, maxt int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d series, want %d: got %v", len(got), len(want), names(got))
	}
	for i := range got {
		if !labels.Equal(got[i].labels, want[i].labels) {
			return fmt.Errorf("series %d is %v, want %v", i, got[i].labels, want[i].labels)
		}
		if in := inRange(got[i].samples, mint, maxt); !slices.Equal(in, want[i].samples) {
			return fmt.Errorf("%v: %d samples in range, want %d (first got %v, want %v)", got[i].labels, len(in), len(want[i].samples), first(in), first(want[i].samples))
		}
		if !slices.IsSortedFunc(got[i].samples, func(a, b promtest.Sample) int { return cmp.Compare(a.T, b.T) }) {
			return fmt.Errorf("%v: samples out of order", got[i].labels)
		}
	}
	return nil
}

// TestSeriesFromBlocksDuringCompaction asks the sidecar again and again
// while Prometheus cuts blocks from its head, compacts three 2 h blocks into
// one of 6 h and deletes them: every answer holds every sample once.
func TestSeriesFromBlocksDuringCompaction(t *testing.T) {
	h := int64(3600_000)
	// 10 h: the head cuts four 2 h blocks, and the first three, all but
	// the newest, are compacted into one.
	hs := blockHistory()
	for i := range hs {
		if hs[i].to == base+(blockHours+headHours)*h {
			hs[i].to = base + 10*h
		}
	}
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external, Args: []string{
		"--web.enable-remote-write-receiver", "--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=6h"}})
	reg := promclient.NewRegistry()
	e := &blockEnv{env: serveSidecarWith(t, prom.URL(), promstore.TargetOptions{MaxAge: 100 * time.Millisecond, Timeout: time.Minute, Blocks: true},
		blocks.NewDir(prom.DataDir()), reg), reg: reg}
	// The head takes samples no older than half a block behind its newest:
	// written in time order, 30 minutes at a time.
	write := func(from, to int64) {
		for t0 := from; t0 < to; t0 += h / 2 {
			prom.RemoteWrite(t, families(hs, t0, min(t0+h/2, to))...)
		}
	}
	write(base, base+4*h)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	isM := func(l map[string]string) bool { return l["__name__"] == "m" }
	req := &storepb.SeriesRequest{MinTime: base, MaxTime: base + 4*h - 1, Matchers: []storepb.LabelMatcher{eq("__name__", "m")}}
	want := truth(hs, isM, req.MinTime, req.MaxTime, nil)
	done := make(chan struct{})
	errs := make(chan error, 4)
	var asked atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for asked.Load() < 10_000 {
				select {
				case <-done:
					return
				default:
				}
				got, _, _, err := seriesNoFatal(ctx, e.client, req)
				if err == nil {
					err = matchTruth(got, want, req.MinTime, req.MaxTime)
				}
				if err != nil {
					errs <- fmt.Errorf("answer %d: %w", asked.Load(), err)
					return
				}
				asked.Add(1)
			}
		}()
	}
	write(base+4*h, base+10*h)
	// Compacted: a 6 h block, its 2 h parents gone.
	wait.Until(t, 30*time.Second, "a 6 h block", func() error {
		listed := listedBlocks(ctx, t, prom.URL())
		for _, b := range listed {
			if b.MaxTime-b.MinTime > 2*h {
				return nil
			}
		}
		return fmt.Errorf("blocks %v", listed)
	})
	// A few more answers over the compacted block.
	before := asked.Load()
	wait.Until(t, 30*time.Second, "answers after the compaction", func() error {
		if n := asked.Load() - before; n < 100 {
			return fmt.Errorf("%d answers", n)
		}
		return nil
	})
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if read := e.blockBytes(t); read == 0 {
		t.Fatal("nothing read from blocks")
	}
	t.Logf("%d answers, all exact", asked.Load())
}
