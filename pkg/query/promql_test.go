package query_test

import (
	"context"
	"go/build"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/testutil"

	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// stackStorage is a storage.Storage whose appends go to the TSDBs of two
// replicas and whose reads go through the whole query stack: real Store API
// servers over gRPC, the proxy and the replica merge.
type stackStorage struct {
	storage.Storage // the replicas' TSDBs, fanned out: appends, StartTime, Close
	queryable       storage.Queryable
}

func (s *stackStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	return s.queryable.Querier(mint, maxt)
}

// newStackStorage starts two replicas. Their TSDBs cut chunks at different
// sizes, so the replicas hold equal samples in different chunk bytes: the
// proxy keeps both and the replica merge has two copies to merge. One
// replica strips the replica label itself, the other leaves it to the proxy.
// With gaps, each replica misses a fifth of the samples, never one the other
// misses: the merge must fill every gap of one from the other to give the
// scripts' answers.
//
// With twoPhase, every selection but those of one instant is a two-phase
// selection.
func newStackStorage(t testing.TB, gaps, twoPhase bool) storage.Storage {
	var (
		dbs     []storage.Storage
		clients []store.Client
	)
	for i, r := range []string{"a", "b"} {
		opts := tsdb.DefaultOptions()
		// As promqltest's own storage: scripts load long histories at once.
		opts.MinBlockDuration = (24 * time.Hour).Milliseconds()
		opts.MaxBlockDuration = opts.MinBlockDuration
		opts.RetentionDuration = 0
		opts.SamplesPerChunk = []int{120, 47}[i]
		db, err := tsdb.Open(t.TempDir(), nil, nil, opts, nil)
		if err != nil {
			t.Fatalf("open tsdb: %v", err)
		}
		t.Cleanup(func() { _ = db.Close() })
		var replica storage.Storage = db
		if gaps {
			replica = &gappyStorage{Storage: db, replica: uint64(i)}
		}
		dbs = append(dbs, replica)
		srv := storetest.Start(t, db, storetest.Options{
			ExternalLabels:       labels.FromStrings("replica", r),
			WithoutReplicaLabels: i == 0,
		})
		clients = append(clients, srv.Client(t))
	}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	opts := query.Options{
		Dedup:         true,
		ReplicaLabels: []string{"replica"},
		// Tighter than the default, so that any evaluation order
		// that could wait for its own selections shows here.
		MaxConcurrentSelects: 2,
	}
	if twoPhase {
		opts.TwoPhaseSpan, opts.LateWarnings = time.Millisecond, &query.Warnings{}
	}
	return &stackStorage{
		Storage:   storage.NewFanout(nil, dbs[0], dbs[1]),
		queryable: query.NewQueryable(proxy, opts),
	}
}

// skippedEvals are upstream eval commands that cannot pass through the
// replica merge, by script and line, with the reason.
var skippedEvals = map[string]map[int]string{
	"native_histograms.test": {
		// The merge cannot vouch for the "not_reset" hint of the first
		// sample it returns (the hint compares with a sample it did not
		// return), so it reports "unknown", and the conflict these two
		// evals expect between "not_reset" and "reset" does not arise.
		1724: "first returned histogram's not_reset hint becomes unknown in pkg/dedup",
		1729: "first returned histogram's not_reset hint becomes unknown in pkg/dedup",
	},
}

// TestPromQLScriptsThroughStack runs Prometheus's own PromQL test scripts
// against data that reaches the engine through the whole query stack.
//
// promqltest.RunBuiltinTestsWithStorage runs the same scripts but cannot
// leave out single evals; this does what it does, minus skippedEvals.
func TestPromQLScriptsThroughStack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every upstream PromQL test script")
	}
	dir := promqlTestdataDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.test"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no PromQL test scripts in %s (%v)", dir, err)
	}

	// What RunBuiltinTestsWithStorage enables for its scripts.
	parser.EnableExperimentalFunctions = true
	parser.ExperimentalDurationExpr = true
	parser.EnableExtendedRangeSelectors = true
	t.Cleanup(func() {
		parser.EnableExperimentalFunctions = false
		parser.ExperimentalDurationExpr = false
		parser.EnableExtendedRangeSelectors = false
	})

	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	for _, v := range []struct {
		name           string
		gaps, twoPhase bool
	}{
		{"equal replicas", false, false},
		{"replicas with gaps", true, false},
		{"two-phase selections of replicas with gaps", true, true},
	} {
		gaps := v.gaps
		t.Run(v.name, func(t *testing.T) {
			if raceDetector && !v.twoPhase {
				// Every variant reads through the same read-ahead; under
				// the race detector the one with the most goroutines, and
				// a third of the time, is enough.
				t.Skip("under the race detector only the two-phase variant runs")
			}
			for _, file := range files {
				name := filepath.Base(file)
				t.Run(name, func(t *testing.T) {
					content, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					skip := skippedEvals[name]
					if gaps {
						skip = mergedSkips(skip, skippedWithGaps[name])
					}
					script := withoutEvals(t, string(content), skip)
					promqltest.RunTestWithStorage(t, script, engine, func(tt testutil.T) storage.Storage {
						return newStackStorage(tt.(testing.TB), gaps, v.twoPhase)
					})
				})
			}
		})
	}
}

// skippedWithGaps are evals that cannot pass when each replica misses
// samples the other has, by script and line, with the reason. Each is a
// counter dropping at consecutive samples while the merge moves between the
// replicas: there a drop cannot be told from a replica that read the counter
// a moment earlier, which the merge must not report as a reset.
var skippedWithGaps = map[string]map[int]string{
	"extended_vectors.test": {
		293: "a counter that drops at every sample: a drop right after a fill is held, not counted",
		299: "a counter that drops at every sample: a drop right after a fill is held, not counted",
	},
	"functions.test": {
		52: "a histogram counter that resets every other sample: a fill that would add a reset is left out",
	},
	"native_histograms.test": {
		1101: "buckets alternating between exponential and custom: a fill that changes the schema reads as a reset and is left out",
		1106: "buckets alternating between exponential and custom: a fill that changes the schema reads as a reset and is left out",
		1113: "buckets alternating between exponential and custom: a fill that changes the schema reads as a reset and is left out",
		1120: "buckets alternating between exponential and custom: a fill that changes the schema reads as a reset and is left out",
		1788: "a histogram reset late in the window: a fill that would add a reset is left out",
		1792: "a histogram reset late in the window: a fill that would add a reset is left out",
		1796: "a histogram reset late in the window: a fill that would add a reset is left out",
		1810: "a histogram reset late in the window: a fill that would add a reset is left out",
	},
}

func mergedSkips(a, b map[int]string) map[int]string {
	out := map[int]string{}
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// gappyStorage is one replica's TSDB that misses some of the samples
// appended to it: replica 0 those whose series and time hash to 0 modulo 5,
// replica 1 those that hash to 1. Stale markers are never missed: a scrape
// that ends a series is seen by both.
type gappyStorage struct {
	storage.Storage
	replica uint64
}

func (s *gappyStorage) Appender(ctx context.Context) storage.Appender {
	return &gappyAppender{Appender: s.Storage.Appender(ctx), replica: s.replica}
}

type gappyAppender struct {
	storage.Appender
	replica uint64
}

func (a *gappyAppender) misses(l labels.Labels, t int64) bool {
	h := l.Hash() ^ uint64(t)*0x9E3779B97F4A7C15
	return (h>>7)%5 == a.replica
}

// Append and AppendHistogram take no series reference and return none: the
// fanout hands one replica's references to the other, whose TSDB, having
// missed other samples, numbers its series differently and would append to
// whichever series has that number.
func (a *gappyAppender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if !value.IsStaleNaN(v) && a.misses(l, t) {
		return 0, nil
	}
	_, err := a.Appender.Append(0, l, t, v)
	return 0, err
}

func (a *gappyAppender) AppendHistogram(_ storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	stale := (h != nil && value.IsStaleNaN(h.Sum)) || (fh != nil && value.IsStaleNaN(fh.Sum))
	if !stale && a.misses(l, t) {
		return 0, nil
	}
	_, err := a.Appender.AppendHistogram(0, l, t, h, fh)
	return 0, err
}

// promqlTestdataDir finds the scripts of the pinned Prometheus module.
func promqlTestdataDir(t *testing.T) string {
	pkg, err := build.Import("github.com/prometheus/prometheus/promql/promqltest", ".", build.FindOnly)
	if err != nil {
		t.Fatalf("locate promqltest: %v", err)
	}
	return filepath.Join(pkg.Dir, "testdata")
}

// withoutEvals blanks the eval commands starting at the given lines (up to
// the next empty line), keeping line numbers in errors unchanged.
func withoutEvals(t *testing.T, script string, skip map[int]string) string {
	lines := strings.Split(script, "\n")
	for line, reason := range skip {
		i := line - 1
		if i >= len(lines) || !strings.HasPrefix(lines[i], "eval") {
			t.Fatalf("line %d is not an eval command any more; update skippedEvals", line)
		}
		t.Logf("skipping %q (line %d): %s", lines[i], line, reason)
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}
