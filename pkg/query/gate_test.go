package query_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"

	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/query"
	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// TestSelectClosedWhileRead closes a query while a goroutine of the engine
// still reads one of its selections, as Thanos's engine does when one side
// of a binary operation fails: the selection waiting for a select slot
// answers an error instead of opening store calls nobody ends, and every
// store call is over once the reader is done.
func TestSelectClosedWhileRead(t *testing.T) {
	db := storetest.OpenTSDB(t,
		storetest.Series{Labels: labels.FromStrings("__name__", "first"), Samples: storetest.Ramp(0, 15_000, 40)},
		storetest.Series{Labels: labels.FromStrings("__name__", "second"), Samples: storetest.Ramp(0, 15_000, 40)},
	)
	var open atomic.Int64
	srv := storetest.Start(t, db, storetest.Options{
		BeforeSeries: func(ctx context.Context, req *storepb.SeriesRequest) error {
			open.Add(1)
			defer open.Add(-1)
			if strings.Contains(req.Matchers[0].Value, "second") {
				<-ctx.Done() // held open until its caller ends it
				return ctx.Err()
			}
			return nil
		},
	})
	clients := []store.Client{srv.Client(t)}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	q, err := query.NewQueryable(proxy, query.Options{MaxConcurrentSelects: 1}).Querier(0, 600_000)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "first"))
	second := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "second"))
	if !first.Next() { // takes the only slot
		t.Fatalf("first selection: no series (%v)", first.Err())
	}

	done := make(chan error)
	go func() {
		if second.Next() {
			done <- fmt.Errorf("series %s", second.At().Labels())
			return
		}
		done <- second.Err()
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait.Receive(t, done, "the closed selection's reader"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("selection read after its query closed: %v; want an error that says it was closed", err)
	}
	wait.Until(t, 10*time.Second, "store calls to end", func() error {
		if n := open.Load(); n != 0 {
			return fmt.Errorf("%d store calls still open", n)
		}
		return nil
	})
}

// TestSelectClosedWhileReading closes a query while a goroutine reads a
// selection's series and their samples: the reader stops, at the end or
// at an error, and every store call ends.
func TestSelectClosedWhileReading(t *testing.T) {
	var series []storetest.Series
	for i := range 300 {
		series = append(series, storetest.Series{Labels: labels.FromStrings("__name__", "many", "i", fmt.Sprint(i)), Samples: storetest.Ramp(0, 15_000, 240)})
	}
	var open atomic.Int64
	srv := storetest.Start(t, storetest.OpenTSDB(t, series...), storetest.Options{
		BeforeSeries: func(ctx context.Context, _ *storepb.SeriesRequest) error {
			open.Add(1)
			context.AfterFunc(ctx, func() { open.Add(-1) })
			return nil
		},
	})
	clients := []store.Client{srv.Client(t)}
	proxy := store.NewProxy(func() []store.Client { return clients }, store.ProxyOptions{})
	for _, selects := range []int{0, 1, 4} {
		t.Run(fmt.Sprintf("max-concurrent-select=%d", selects), func(t *testing.T) {
			q, err := query.NewQueryable(proxy, query.Options{MaxConcurrentSelects: selects}).Querier(0, 3_600_000)
			if err != nil {
				t.Fatal(err)
			}
			set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "many"))
			first, done := make(chan struct{}), make(chan error)
			go func() {
				n := 0
				for set.Next() {
					it := set.At().Iterator(nil)
					for it.Next() != 0 {
					}
					if n++; n == 1 {
						close(first)
					}
				}
				done <- set.Err()
			}()
			wait.Receive(t, first, "the first series")
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if err := wait.Receive(t, done, "the reader"); err != nil && !strings.Contains(err.Error(), "clos") && !strings.Contains(err.Error(), "cancel") {
				t.Errorf("reader ended with %v; want the end or an error that says the query ended", err)
			}
			wait.Until(t, 10*time.Second, "store calls to end", func() error {
				if n := open.Load(); n != 0 {
					return fmt.Errorf("%d store calls still open", n)
				}
				return nil
			})
		})
	}
}
