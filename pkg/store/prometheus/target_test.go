package prometheus_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/promtest"
	promstore "github.com/tandem-metrics/tandem/pkg/store/prometheus"
)

// TestTargetIgnoresCallerCancellation checks that a request cancelled
// while the target asks Prometheus does not leave the target failing for
// the requests after it.
func TestTargetIgnoresCallerCancellation(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{ExternalLabels: external})
	u, _ := url.Parse(prom.URL())
	client := promstore.NewClient(u, &http.Client{Transport: promstore.Transport()})
	// Never checked yet, and an hour before a check is stale: the first
	// call asks Prometheus, and a failure it recorded would stick.
	target := promstore.NewTarget(client, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, time.Hour)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := target.Ready(cancelled); err == nil {
		t.Fatal("Ready with a cancelled context succeeded, want its error")
	}
	if err := target.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after a cancelled call: %v, want nil", err)
	}
}
