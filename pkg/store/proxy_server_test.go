package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"

	"github.com/tandem-metrics/tandem/pkg/store"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
)

// TestProxyServerStacks puts a querier's Store API in front of two replicas
// and reads it through a second proxy, as a global querier over a cluster's.
func TestProxyServerStacks(t *testing.T) {
	var lower []store.Client
	for i, r := range []string{"a", "b"} {
		db := storetest.OpenTSDB(t,
			storetest.Series{Labels: labels.FromStrings("__name__", "up", "job", "x"), Samples: storetest.Ramp(int64(i)*1000, 15_000, 100)},
			storetest.Series{Labels: labels.FromStrings("__name__", "up", "job", "y"), Samples: storetest.Ramp(int64(i)*1000, 15_000, 100)},
		)
		lower = append(lower, storetest.Start(t, db, storetest.Options{
			ExternalLabels: labels.FromStrings("cluster", "eu", "replica", r), WithoutReplicaLabels: i == 0,
		}).Client(t))
	}
	server := store.NewProxyServer(store.NewProxy(clients(lower...), store.ProxyOptions{}), store.ServerLimits{})
	addr := serveProxy(t, server)

	info, err := server.Info(context.Background(), &infopb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := labelpb.ZLabelSetsToPromLabelSets(info.LabelSets...); len(got) != 2 || !info.Store.SupportsWithoutReplicaLabels {
		t.Fatalf("info: label sets %v, without replica labels %v", got, info.Store.SupportsWithoutReplicaLabels)
	}

	upper := store.NewProxy(clients(storetest.Dial(t, addr, storetest.Options{WithoutReplicaLabels: true})), store.ProxyOptions{})
	for _, tc := range []struct {
		name    string
		without []string
		want    []string
	}{
		// Each replica's copy stays a series of its own, for the merge
		// above: joined, they would read as one replica.
		{name: "dedup", without: []string{"replica"}, want: []string{
			`{__name__="up", cluster="eu", job="x"}`, `{__name__="up", cluster="eu", job="x"}`,
			`{__name__="up", cluster="eu", job="y"}`, `{__name__="up", cluster="eu", job="y"}`,
		}},
		{name: "no dedup", want: []string{
			`{__name__="up", cluster="eu", job="x", replica="a"}`, `{__name__="up", cluster="eu", job="x", replica="b"}`,
			`{__name__="up", cluster="eu", job="y", replica="a"}`, `{__name__="up", cluster="eu", job="y", replica="b"}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := seriesRequest(t, 0, 10_000_000, metricUp)
			req.WithoutReplicaLabels = tc.without
			set := upper.Series(context.Background(), req, store.SeriesOptions{})
			defer set.Close()
			got := collect(t, set)
			if err := set.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("series:\n got %q\nwant %q", names(got), tc.want)
			}
			// Every copy is one replica's: 100 samples, replica b's a
			// second later than a's.
			for i, c := range got {
				if len(c.samples) != 100 || c.samples[0].T != int64(i%2)*1000 {
					t.Errorf("%s, copy %d: %d samples from %d, want 100 from %d", c.lset, i%2, len(c.samples), c.samples[0].T, (i%2)*1000)
				}
			}
		})
	}
}
