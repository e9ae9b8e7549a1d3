package storetest

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/thanos/pkg/store/storepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Client is a store.Client for a Server, with what discovery would have
// learned from the server's Info taken from its options directly.
type Client struct {
	storepb.StoreClient
	addr      string
	labelSets []labels.Labels
	mint      int64
	maxt      int64
	without   bool
}

// Client dials the server over loopback gRPC.
func (s *Server) Client(t testing.TB) *Client {
	t.Helper()
	return Dial(t, s.addr, s.opts)
}

// Dial returns a Client for addr presenting opts, whether or not a server
// listens there: a client of a stopped server is how tests get a dead store.
func Dial(t testing.TB, addr string, opts Options) *Client {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	c := &Client{
		StoreClient: storepb.NewStoreClient(cc),
		addr:        addr,
		mint:        opts.MinTime,
		maxt:        opts.MaxTime,
		without:     opts.WithoutReplicaLabels,
	}
	if c.mint == 0 && c.maxt == 0 {
		c.mint, c.maxt = -1<<63, 1<<63-1
	}
	if !opts.ExternalLabels.IsEmpty() {
		c.labelSets = []labels.Labels{opts.ExternalLabels}
	}
	return c
}

// LabelSets implements store.Client.
func (c *Client) LabelSets() []labels.Labels { return c.labelSets }

// TimeRange implements store.Client.
func (c *Client) TimeRange() (mint, maxt int64) { return c.mint, c.maxt }

// SupportsWithoutReplicaLabels implements store.Client.
func (c *Client) SupportsWithoutReplicaLabels() bool { return c.without }

// String implements store.Client.
func (c *Client) String() string { return c.addr }
