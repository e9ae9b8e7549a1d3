package remote_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/promql-engine/api"
	"github.com/thanos-io/thanos/pkg/api/query/querypb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/store/labelpb"

	"github.com/tandem-metrics/tandem/pkg/remote"
)

// endpoint is an Endpoint with TSDBs and no connection, for the engines'
// description.
type endpoint struct {
	addr   string
	client querypb.QueryClient
	infos  []infopb.TSDBInfo
}

func (e endpoint) String() string                   { return e.addr }
func (e endpoint) QueryClient() querypb.QueryClient { return e.client }
func (e endpoint) TSDBInfos() []infopb.TSDBInfo     { return e.infos }

func tsdb(mint, maxt int64, kv ...string) infopb.TSDBInfo {
	return infopb.TSDBInfo{Labels: labelpb.ZLabelSet{Labels: labelpb.ZLabelsFromPromLabels(labels.FromStrings(kv...))}, MinTime: mint, MaxTime: maxt}
}

// describe is an engine as the distributed engine sees it.
func describe(e api.RemoteEngine) string {
	return fmt.Sprintf("%d..%d labels %v partitions %v", e.MinT(), e.MaxT(), e.LabelSets(), e.PartitionLabelSets())
}

// TestEnginesDescribeTheirPartitions checks the time ranges and label sets
// the distributed engine plans with: replica labels are no partition, the
// oldest time of a partition is its replicas' latest, engines that share a
// partition keep their own oldest times (the engine splits the range
// between them), and an engine alone with its partitions gets the oldest
// time of all, so that it is asked for the whole range.
func TestEnginesDescribeTheirPartitions(t *testing.T) {
	max := int64(math.MaxInt64)
	for _, tc := range []struct {
		name      string
		endpoints []remote.Endpoint
		opts      remote.Options
		want      []string
	}{
		{
			name: "one cluster per engine",
			endpoints: []remote.Endpoint{
				endpoint{addr: "c0", infos: []infopb.TSDBInfo{tsdb(100, max, "cluster", "c0", "replica", "a"), tsdb(200, max, "cluster", "c0", "replica", "b")}},
				endpoint{addr: "c1", infos: []infopb.TSDBInfo{tsdb(300, max, "cluster", "c1", "replica", "a"), tsdb(400, max, "cluster", "c1", "replica", "b")}},
			},
			opts: remote.Options{ReplicaLabels: []string{"replica"}, Dedup: true},
			want: []string{
				fmt.Sprintf(`200..%d labels [{cluster="c0"}] partitions [{cluster="c0"}]`, max),
				fmt.Sprintf(`200..%d labels [{cluster="c1"}] partitions [{cluster="c1"}]`, max),
			},
		},
		{
			name: "a cluster in two engines of different ages",
			endpoints: []remote.Endpoint{
				endpoint{addr: "recent", infos: []infopb.TSDBInfo{tsdb(5000, max, "cluster", "c0", "replica", "a")}},
				endpoint{addr: "old", infos: []infopb.TSDBInfo{tsdb(100, 6000, "cluster", "c0")}},
			},
			opts: remote.Options{ReplicaLabels: []string{"replica"}, Dedup: true},
			want: []string{
				fmt.Sprintf(`5000..%d labels [{cluster="c0"}] partitions [{cluster="c0"}]`, max),
				`100..6000 labels [{cluster="c0"}] partitions [{cluster="c0"}]`,
			},
		},
		{
			name: "partition labels",
			endpoints: []remote.Endpoint{
				endpoint{addr: "c0", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c0", "region", "eu", "replica", "a")}},
				endpoint{addr: "c1", infos: []infopb.TSDBInfo{tsdb(300, 900, "cluster", "c1", "region", "eu", "replica", "a")}},
			},
			opts: remote.Options{ReplicaLabels: []string{"replica"}, Dedup: true, PartitionLabels: []string{"cluster"}},
			want: []string{
				`100..900 labels [{cluster="c0", region="eu"}] partitions [{cluster="c0"}]`,
				`100..900 labels [{cluster="c1", region="eu"}] partitions [{cluster="c1"}]`,
			},
		},
		{
			name: "without dedup the replicas are partitions",
			endpoints: []remote.Endpoint{
				endpoint{addr: "c0", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c0", "replica", "a"), tsdb(200, 900, "cluster", "c0", "replica", "b")}},
			},
			opts: remote.Options{ReplicaLabels: []string{"replica"}},
			want: []string{`100..900 labels [{cluster="c0", replica="a"} {cluster="c0", replica="b"}] partitions [{cluster="c0", replica="a"} {cluster="c0", replica="b"}]`},
		},
		{
			name: "an engine without TSDBs holds nothing",
			endpoints: []remote.Endpoint{
				endpoint{addr: "empty"},
				endpoint{addr: "c0", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c0")}},
			},
			want: []string{`100..900 labels [{cluster="c0"}] partitions [{cluster="c0"}]`},
		},
		{
			name: "storeMatch selects engines by address and labels",
			endpoints: []remote.Endpoint{
				endpoint{addr: "10.0.0.1:10901", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c0")}},
				endpoint{addr: "10.0.0.2:10901", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c1")}},
				endpoint{addr: "10.0.0.3:10901", infos: []infopb.TSDBInfo{tsdb(100, 900, "cluster", "c2")}},
			},
			opts: remote.Options{StoreMatchers: [][]*labels.Matcher{
				{labels.MustNewMatcher(labels.MatchEqual, "cluster", "c1")},
				{labels.MustNewMatcher(labels.MatchEqual, "__address__", "10.0.0.3:10901")},
			}},
			want: []string{`100..900 labels [{cluster="c1"}] partitions [{cluster="c1"}]`, `100..900 labels [{cluster="c2"}] partitions [{cluster="c2"}]`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range remote.NewEndpoints(tc.endpoints, nil, tc.opts).Engines() {
				got = append(got, describe(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("engines:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
