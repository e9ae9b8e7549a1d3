package reloader

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/tandem-metrics/tandem/internal/promtest"
)

// These tests run the reloader against a real Prometheus started with
// --web.enable-lifecycle, fed from ConfigMap-style directories.

const reloadDeadline = 15 * time.Second

func configTemplate(cluster, extra string) string {
	return fmt.Sprintf("global:\n  scrape_interval: 15s\n  external_labels:\n    cluster: %s\n    replica: $(POD_NAME)\n%s", cluster, extra)
}

type promSetup struct {
	prom *promtest.Server
	cm   *configMapDir
	r    *Reloader
	logs *syncBuffer
}

// startWithPrometheus starts Prometheus (with a config the reloader will
// replace) and a reloader rendering cm's prometheus.yml.tmpl into it.
func startWithPrometheus(t *testing.T, tmpl string, ruleDirs ...string) promSetup {
	t.Helper()
	prom := promtest.Start(t, promtest.Config{ExternalLabels: map[string]string{"cluster": "boot"}})
	cm := newConfigMapDir(t, map[string]string{"prometheus.yml.tmpl": tmpl})
	u, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	r, logs := startReloader(t, Options{
		PrometheusURL:      u,
		ConfigFile:         cm.path("prometheus.yml.tmpl"),
		ConfigEnvsubstFile: prom.ConfigFile(),
		RuleDirs:           ruleDirs,
		WatchInterval:      time.Hour, // changes must be seen through file-system events
		RetryInterval:      100 * time.Millisecond,
		LookupEnv:          envOf(map[string]string{"POD_NAME": "prometheus-0"}),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus log:\n%s", prom.Log())
		}
	})
	return promSetup{prom: prom, cm: cm, r: r, logs: logs}
}

// externalLabels reads the external labels of the config Prometheus is
// running, from GET /api/v1/status/config.
func externalLabels(t *testing.T, promURL string) (map[string]string, error) {
	var body struct {
		Data struct {
			YAML string `json:"yaml"`
		} `json:"data"`
	}
	if err := getJSON(promURL+"/api/v1/status/config", &body); err != nil {
		return nil, err
	}
	var cfg struct {
		Global struct {
			ExternalLabels map[string]string `yaml:"external_labels"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal([]byte(body.Data.YAML), &cfg); err != nil {
		return nil, fmt.Errorf("config YAML from Prometheus: %w", err)
	}
	return cfg.Global.ExternalLabels, nil
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func labelsAre(t *testing.T, promURL string, want map[string]string) func() (bool, string) {
	return func() (bool, string) {
		got, err := externalLabels(t, promURL)
		if err != nil {
			return false, err.Error()
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	}
}

// A ConfigMap update (the ..data symlink swapped to a new version) that
// changes an external label reaches Prometheus within seconds, with
// $(POD_NAME) substituted.
func TestPrometheusFollowsConfigMapUpdate(t *testing.T) {
	s := startWithPrometheus(t, configTemplate("eu-1", ""))
	eventually(t, reloadDeadline, "initial config live", labelsAre(t, s.prom.URL(), map[string]string{"cluster": "eu-1", "replica": "prometheus-0"}))
	// Prometheus applies the config before it answers the reload request.
	eventually(t, reloadDeadline, "success reported", metricAtLeast(s.r.metrics.lastReloadSuccess, 1))
	hash1 := testutil.ToFloat64(s.r.metrics.configHash)

	s.cm.update(map[string]string{"prometheus.yml.tmpl": configTemplate("eu-2", "")})
	eventually(t, reloadDeadline, "updated config live", labelsAre(t, s.prom.URL(), map[string]string{"cluster": "eu-2", "replica": "prometheus-0"}))

	rendered, err := os.ReadFile(s.prom.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rendered), "$(") || !strings.Contains(string(rendered), "replica: prometheus-0") {
		t.Fatalf("rendered config not substituted:\n%s", rendered)
	}
	// It may hold secrets from the environment: only its owner, whom
	// Prometheus runs as, reads it.
	if fi, err := os.Stat(s.prom.ConfigFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rendered config: mode %v, %v; want -rw-------", fi.Mode(), err)
	}
	eventually(t, reloadDeadline, "config hash updated", func() (bool, string) {
		h := testutil.ToFloat64(s.r.metrics.configHash)
		return h != hash1 && h == hashValue(rendered), fmt.Sprintf("hash %v (before %v, want %v)", h, hash1, hashValue(rendered))
	})
}

// A config Prometheus rejects is reported (metric, and a log line with
// Prometheus's reason); Prometheus keeps running the old config, and the next
// good version supersedes the retries.
func TestPrometheusKeepsOldConfigWhenRejected(t *testing.T) {
	for _, tc := range []struct {
		name, broken, reason string
	}{
		{
			name:   "invalid YAML",
			broken: "global:\n  external_labels: [unclosed\n",
			reason: "yaml",
		},
		{
			name: "invalid scrape config",
			broken: configTemplate("broken", "scrape_configs:\n  - job_name: x\n    scrape_interval: 10s\n    scrape_timeout: 1m\n"+
				"    static_configs:\n      - targets: ['127.0.0.1:1']\n"),
			reason: "scrape timeout greater than scrape interval",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWithPrometheus(t, configTemplate("good-1", ""))
			good := map[string]string{"cluster": "good-1", "replica": "prometheus-0"}
			eventually(t, reloadDeadline, "initial config live", labelsAre(t, s.prom.URL(), good))
			failures := testutil.ToFloat64(s.r.metrics.reloadFailures)

			s.cm.update(map[string]string{"prometheus.yml.tmpl": tc.broken})
			eventually(t, reloadDeadline, "rejection counted", metricAtLeast(s.r.metrics.reloadFailures, failures+1))
			if v := testutil.ToFloat64(s.r.metrics.lastReloadSuccess); v != 0 {
				t.Fatalf("last reload successful = %v after a rejected config, want 0", v)
			}
			eventually(t, reloadDeadline, "Prometheus's reason logged", func() (bool, string) {
				l := s.logs.String()
				return strings.Contains(l, "failed to reload config") && strings.Contains(l, tc.reason), l
			})
			// Retries keep failing, and Prometheus keeps serving the old config.
			eventually(t, reloadDeadline, "retried", metricAtLeast(s.r.metrics.reloadFailures, failures+2))
			if ok, seen := labelsAre(t, s.prom.URL(), good)(); !ok {
				t.Fatalf("Prometheus's live config changed to %s after a rejected reload", seen)
			}

			s.cm.update(map[string]string{"prometheus.yml.tmpl": configTemplate("good-2", "")})
			eventually(t, reloadDeadline, "fixed config live", labelsAre(t, s.prom.URL(), map[string]string{"cluster": "good-2", "replica": "prometheus-0"}))
			eventually(t, reloadDeadline, "success reported", metricAtLeast(s.r.metrics.lastReloadSuccess, 1))
		})
	}
}

// A change in a rule directory (itself a ConfigMap mount) reloads
// Prometheus, which then lists the new rule group.
func TestPrometheusFollowsRuleDirUpdate(t *testing.T) {
	rules := newConfigMapDir(t, map[string]string{"rules.yaml": ruleGroup("first")})
	tmpl := configTemplate("eu-1", fmt.Sprintf("rule_files:\n  - %s\n", filepath.Join(rules.dir, "*.yaml")))
	s := startWithPrometheus(t, tmpl, rules.dir)
	eventually(t, reloadDeadline, "first rule group loaded", ruleGroupsAre(s.prom.URL(), "first"))

	rules.update(map[string]string{"rules.yaml": ruleGroup("second")})
	eventually(t, reloadDeadline, "second rule group loaded", ruleGroupsAre(s.prom.URL(), "second"))
}

func ruleGroup(name string) string {
	return fmt.Sprintf("groups:\n  - name: %s\n    rules:\n      - record: tandem:test:%s\n        expr: vector(1)\n", name, name)
}

func ruleGroupsAre(promURL string, want ...string) func() (bool, string) {
	return func() (bool, string) {
		var body struct {
			Data struct {
				Groups []struct {
					Name string `json:"name"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(promURL+"/api/v1/rules", &body); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, g := range body.Data.Groups {
			got = append(got, g.Name)
		}
		return slices.Equal(got, want), fmt.Sprint(got)
	}
}
