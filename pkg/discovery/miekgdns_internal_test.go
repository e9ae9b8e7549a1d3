package discovery

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func TestSearchCandidates(t *testing.T) {
	search := []string{"monitoring.svc.cluster.local", "svc.cluster.local."}
	for _, tc := range []struct {
		name  string
		ndots int
		want  []string
	}{
		{
			// Fewer dots than ndots (Kubernetes sets 5): search domains first.
			name: "_grpc._tcp.sidecar", ndots: 5,
			want: []string{
				"_grpc._tcp.sidecar.monitoring.svc.cluster.local.",
				"_grpc._tcp.sidecar.svc.cluster.local.",
				"_grpc._tcp.sidecar.",
			},
		},
		{
			name: "sidecar.monitoring", ndots: 1,
			want: []string{
				"sidecar.monitoring.",
				"sidecar.monitoring.monitoring.svc.cluster.local.",
				"sidecar.monitoring.svc.cluster.local.",
			},
		},
		{name: "sidecar.monitoring.svc.cluster.local.", ndots: 5, want: []string{"sidecar.monitoring.svc.cluster.local."}},
	} {
		if got := searchCandidates(tc.name, search, tc.ndots); !slices.Equal(got, tc.want) {
			t.Errorf("searchCandidates(%q, ndots=%d) = %q, want %q", tc.name, tc.ndots, got, tc.want)
		}
	}
}

func TestFollowCNAMEs(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	chain := []dns.RR{
		rr("a.example. 5 IN CNAME b.example."),
		rr("b.example. 5 IN CNAME c.example."),
		rr("c.example. 5 IN A 127.0.0.1"),
		rr("other.example. 5 IN A 127.0.0.9"),
	}
	got, last := followCNAMEs(chain, "a.example.", dns.TypeA)
	if len(got) != 1 || got[0].(*dns.A).A.String() != "127.0.0.1" || last != "c.example." {
		t.Fatalf("followCNAMEs = %v, %q; want c.example.'s A record", got, last)
	}

	// The chain leaves the answer: the caller must ask for the last name.
	got, last = followCNAMEs(chain[:2], "a.example.", dns.TypeA)
	if len(got) != 0 || last != "c.example." {
		t.Fatalf("followCNAMEs = %v, %q; want no records and c.example.", got, last)
	}

	// A CNAME loop ends.
	loop := []dns.RR{rr("x.example. 5 IN CNAME y.example."), rr("y.example. 5 IN CNAME x.example.")}
	if got, _ := followCNAMEs(loop, "x.example.", dns.TypeA); len(got) != 0 {
		t.Fatalf("followCNAMEs on a loop = %v, want nothing", got)
	}
}
