package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/thanos-io/thanos/pkg/exemplars/exemplarspb"
	"github.com/thanos-io/thanos/pkg/info/infopb"
	"github.com/thanos-io/thanos/pkg/metadata/metadatapb"
	"github.com/thanos-io/thanos/pkg/rules/rulespb"
	"github.com/thanos-io/thanos/pkg/targets/targetspb"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"

	"github.com/tandem-metrics/tandem/internal/promtest"
	"github.com/tandem-metrics/tandem/internal/wait"
	"github.com/tandem-metrics/tandem/pkg/fanout"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
	"github.com/tandem-metrics/tandem/pkg/store/storetest"
	"github.com/tandem-metrics/tandem/pkg/targetmetapb"
)

// recvAll reads a server stream to its end.
func recvAll[F any](stream interface{ Recv() (F, error) }, err error) ([]F, error) {
	if err != nil {
		return nil, err
	}
	var out []F
	for {
		f, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAPIs serves a live Prometheus, with rules, scrapes and exemplars,
// over the Rules, Targets, Metadata and Exemplars APIs.
func TestAPIs(t *testing.T) {
	live := promtest.StartLive(t)
	prom := promtest.Start(t, live.Config(external))
	u, _ := url.Parse(prom.URL())
	client := promstore.NewClient(u, &http.Client{})
	target := promstore.NewTarget(client, slog.New(slog.DiscardHandler), promstore.TargetOptions{MaxAge: time.Second, Timeout: 10 * time.Second})
	apis := promstore.NewAPIs(client, target)
	conn := storetest.Serve(t, func(srv *grpc.Server) {
		infopb.RegisterInfoServer(srv, apis)
		fanout.Register(srv, apis)
	})
	ctx := t.Context()
	rules, targets := rulespb.NewRulesClient(conn), targetspb.NewTargetsClient(conn)
	metadata, exemplars := metadatapb.NewMetadataClient(conn), exemplarspb.NewExemplarsClient(conn)

	var header grpcmd.MD
	info, err := infopb.NewInfoClient(conn).Info(ctx, &infopb.InfoRequest{}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if got := header.Get(targetmetapb.APIHeader); len(got) != 1 || got[0] != targetmetapb.APIHeaderValue {
		t.Errorf("Info header %s: %q, want the target metadata API announced", targetmetapb.APIHeader, got)
	}
	if info.Store == nil || info.Rules == nil || info.Targets == nil || info.MetricMetadata == nil || info.Exemplars == nil {
		t.Errorf("Info announces %+v, want the Store, Rules, Targets, MetricMetadata and Exemplars APIs", info)
	}

	// Rules run and targets are scraped every second: wait for both.
	wait.Until(t, time.Minute, "rules evaluated and the app scraped", func() error {
		groups, err := recvAll(rules.Rules(ctx, &rulespb.RulesRequest{Type: rulespb.RulesRequest_ALERT}))
		fatalIf(t, err)
		if len(groups) == 0 || groups[0].GetGroup().Rules[0].GetAlert().State != rulespb.AlertState_FIRING {
			return fmt.Errorf("alerts %v", groups)
		}
		md, err := recvAll(metadata.MetricMetadata(ctx, &metadatapb.MetricMetadataRequest{Metric: "rpc_requests", Limit: -1}))
		fatalIf(t, err)
		if len(md) == 0 {
			return errors.New("no metadata of rpc_requests yet")
		}
		return nil
	})

	t.Run("rules", func(t *testing.T) {
		frames, err := recvAll(rules.Rules(ctx, &rulespb.RulesRequest{}))
		fatalIf(t, err)
		var got []string
		for _, f := range frames {
			g := f.GetGroup()
			for _, r := range g.Rules {
				ls := r.GetLabels()
				if ls.Get("cluster") != "eu" || ls.Get("replica") != "r1" {
					t.Errorf("rule %s labels %s, want the external labels", r.GetName(), ls)
				}
				got = append(got, g.Name+"/"+r.GetName())
			}
			if g.PartialResponseStrategy.String() != "ABORT" {
				t.Errorf("group %s: partial response strategy %v, want ABORT as Thanos's sidecar sets it", g.Name, g.PartialResponseStrategy)
			}
		}
		// Prometheus orders groups by file, then name; rules as written.
		want := []string{promtest.LiveBrokenGroup + "/" + promtest.LiveBrokenRecord, promtest.LiveGroup + "/" + promtest.LiveRecording,
			promtest.LiveGroup + "/" + promtest.LiveFiringAlert, promtest.LiveGroup + "/" + promtest.LiveSilentAlert}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rules %v, want %v", got, want)
		}
		firing := frames[1].GetGroup().Rules[1].GetAlert()
		if len(firing.Alerts) != 1 || firing.Alerts[0].Labels.PromLabels().Has("replica") || firing.Alerts[0].Annotations.PromLabels().Get("summary") == "" {
			t.Errorf("firing alert's instances %v: want one, with its annotations and, as Thanos's sidecar serves it, no external labels", firing.Alerts)
		}

		named, err := recvAll(rules.Rules(ctx, &rulespb.RulesRequest{Type: rulespb.RulesRequest_RECORD, RuleGroup: []string{promtest.LiveBrokenGroup}}))
		fatalIf(t, err)
		if len(named) != 1 || len(named[0].GetGroup().Rules) != 1 {
			t.Fatalf("recording rules of %s: %v", promtest.LiveBrokenGroup, named)
		}
		if r := named[0].GetGroup().Rules[0].GetRecording(); r.Health != "err" || !strings.Contains(r.LastError, "same labelset") {
			wait.Until(t, 10*time.Second, "the broken rule fails", func() error {
				named, err = recvAll(rules.Rules(ctx, &rulespb.RulesRequest{RuleName: []string{promtest.LiveBrokenRecord}}))
				fatalIf(t, err)
				if r := named[0].GetGroup().Rules[0].GetRecording(); r.Health != "err" {
					return fmt.Errorf("health %q, error %q", r.Health, r.LastError)
				}
				return nil
			})
		}
	})

	t.Run("targets", func(t *testing.T) {
		wait.Until(t, 30*time.Second, "both targets scraped", func() error {
			frames, err := recvAll(targets.Targets(ctx, &targetspb.TargetsRequest{}))
			fatalIf(t, err)
			var got []string
			for _, f := range frames {
				for _, a := range f.GetTargets().ActiveTargets {
					if a.Labels.PromLabels().Get("replica") != "r1" || a.DiscoveredLabels.PromLabels().Get("cluster") != "eu" {
						return fmt.Errorf("target %s without the external labels: %s", a.ScrapeUrl, a.Labels.PromLabels())
					}
					got = append(got, a.ScrapePool+":"+strings.ToLower(a.Health.String()))
				}
				for _, d := range f.GetTargets().DroppedTargets {
					got = append(got, "dropped "+d.DiscoveredLabels.PromLabels().Get("__address__")+" "+d.DiscoveredLabels.PromLabels().Get("replica"))
				}
			}
			want := []string{"app:up", "down:down", "dropped " + promtest.LiveDroppedAddr + " r1"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("targets %v, want %v", got, want)
			}
			return nil
		})
		dropped, err := recvAll(targets.Targets(ctx, &targetspb.TargetsRequest{State: targetspb.TargetsRequest_DROPPED}))
		fatalIf(t, err)
		if len(dropped) != 1 || len(dropped[0].GetTargets().ActiveTargets) != 0 || len(dropped[0].GetTargets().DroppedTargets) != 1 {
			t.Errorf("state dropped: %v", dropped)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		md, err := recvAll(metadata.MetricMetadata(ctx, &metadatapb.MetricMetadataRequest{Metric: "room_temperature_celsius", Limit: -1}))
		fatalIf(t, err)
		if len(md) != 1 || fmt.Sprint(md[0].GetMetadata().Metadata["room_temperature_celsius"].Metas) != "[{gauge Temperature in the lab. celsius}]" {
			t.Errorf("metadata of room_temperature_celsius: %v", md)
		}
		one, err := recvAll(metadata.MetricMetadata(ctx, &metadatapb.MetricMetadataRequest{Limit: 1}))
		fatalIf(t, err)
		if len(one) != 1 || len(one[0].GetMetadata().Metadata) != 1 {
			t.Errorf("limit 1: %v", one)
		}
	})

	t.Run("target metadata", func(t *testing.T) {
		for _, tc := range []struct {
			req  targetmetapb.Request
			want string
		}{
			{targetmetapb.Request{Metric: "rpc_requests"}, `[{{cluster="eu", instance="` + live.App + `", job="app", replica="r1"}  counter Requests served. }]`},
			{targetmetapb.Request{Metric: "room_temperature_celsius", MatchTarget: `{job="app", replica="r1"}`}, `[{{cluster="eu", instance="` + live.App + `", job="app", replica="r1"}  gauge Temperature in the lab. celsius}]`},
			{targetmetapb.Request{Metric: "rpc_requests", MatchTarget: `{replica="r2"}`}, `[]`},
			{targetmetapb.Request{Metric: "rpc_requests", MatchTarget: `{job="down"}`}, `[]`},
		} {
			frames, err := recvAll(targetmetapb.Call(ctx, conn, &tc.req))
			fatalIf(t, err)
			var entries []targetmetapb.Entry
			for _, f := range frames {
				entries = append(entries, f.Entries...)
			}
			if got := fmt.Sprint(entries); got != tc.want && !(tc.want == "[]" && len(entries) == 0) {
				t.Errorf("%+v: %s, want %s", tc.req, got, tc.want)
			}
		}
		// Prometheus's limit counts targets: the app's three metrics.
		all, err := recvAll(targetmetapb.Call(ctx, conn, &targetmetapb.Request{Limit: 1}))
		fatalIf(t, err)
		if len(all) != 1 || len(all[0].Entries) != 3 || all[0].Entries[0].Metric == "" {
			t.Errorf("limit 1: %+v", all)
		}
	})

	t.Run("exemplars", func(t *testing.T) {
		for _, tc := range []struct {
			query  string
			series int
		}{
			{`rpc_requests_total`, 1},
			{`rate(rpc_duration_seconds_bucket{replica="r1"}[5m])`, 2},
			{`{replica="r1", cluster=~"e.*"}`, 3},
			{`rpc_requests_total{replica="r2"}`, 0},
			{`rpc_requests_total{replica="r2"} or rpc_duration_seconds_bucket{le="0.1"}`, 1},
		} {
			frames, err := recvAll(exemplars.Exemplars(ctx, &exemplarspb.ExemplarsRequest{Query: tc.query, Start: 0, End: time.Now().Add(time.Hour).UnixMilli()}))
			fatalIf(t, err)
			if len(frames) != tc.series {
				t.Errorf("%s: %d series, want %d: %v", tc.query, len(frames), tc.series, frames)
				continue
			}
			for _, f := range frames {
				d := f.GetData()
				if d.SeriesLabels.PromLabels().Get("replica") != "r1" || len(d.Exemplars) != 1 || d.Exemplars[0].Ts != live.ExemplarTime {
					t.Errorf("%s: %v, want the series with the external labels and its exemplar at %d", tc.query, d, live.ExemplarTime)
				}
			}
		}
		if _, err := recvAll(exemplars.Exemplars(ctx, &exemplarspb.ExemplarsRequest{Query: "rate(", End: 1})); err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
			t.Errorf("bad query: %v, want InvalidArgument", err)
		}
	})
}

// TestAPIsPrometheusDown: a Prometheus that does not answer is an
// Unavailable error that says what could not be read.
func TestAPIsPrometheusDown(t *testing.T) {
	u, _ := url.Parse("http://" + promtest.FreeAddr(t))
	client := promstore.NewClient(u, &http.Client{})
	apis := promstore.NewAPIs(client, promstore.NewTarget(client, slog.New(slog.DiscardHandler), promstore.TargetOptions{MaxAge: time.Second, Timeout: 10 * time.Second}))
	conn := storetest.Serve(t, func(srv *grpc.Server) { fanout.Register(srv, apis) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := recvAll(rulespb.NewRulesClient(conn).Rules(ctx, &rulespb.RulesRequest{}))
	if err == nil || !strings.Contains(err.Error(), "Unavailable") || !strings.Contains(err.Error(), "external labels") {
		t.Errorf("error %v, want Unavailable saying the external labels cannot be read", err)
	}
}
