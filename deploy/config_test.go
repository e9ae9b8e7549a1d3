package deploy

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/tandem-metrics/tandem/pkg/reloader"
)

const templateKey = "prometheus.yml.tmpl"

func configMapData(t *testing.T, o object) map[string]string {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	o.decode(t, &cm)
	return cm.Data
}

type promConfig struct {
	Global struct {
		ExternalLabels map[string]string `yaml:"external_labels"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName             string `yaml:"job_name"`
		KubernetesSDConfigs []struct {
			Role string `yaml:"role"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []struct {
			SourceLabels []string `yaml:"source_labels"`
			Action       string   `yaml:"action"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func parseTemplate(t *testing.T, tmpl string) promConfig {
	t.Helper()
	var c promConfig
	if err := yaml.Unmarshal([]byte(tmpl), &c); err != nil {
		t.Fatalf("%s does not parse as YAML: %v", templateKey, err)
	}
	return c
}

// The config template is YAML with the external labels the dedup relies on,
// Kubernetes SD for nodes and annotated pods, and, rendered as the reloader
// renders it, a config Prometheus's promtool accepts.
func TestPrometheusConfigTemplate(t *testing.T) {
	b := loadBase(t)
	tmpl := configMapData(t, b.find(t, "ConfigMap", "prometheus-config"))[templateKey]
	c := parseTemplate(t, tmpl)
	if c.Global.ExternalLabels["cluster"] == "" {
		t.Error("no external label cluster")
	}
	if got := c.Global.ExternalLabels["replica"]; got != "$(POD_NAME)" {
		t.Errorf("external label replica = %q, want $(POD_NAME)", got)
	}
	roles := map[string]bool{}
	var podsByAnnotation bool
	for _, sc := range c.ScrapeConfigs {
		for _, sd := range sc.KubernetesSDConfigs {
			roles[sd.Role] = true
		}
		for _, rc := range sc.RelabelConfigs {
			if rc.Action == "keep" && len(rc.SourceLabels) == 1 && rc.SourceLabels[0] == "__meta_kubernetes_pod_annotation_prometheus_io_scrape" {
				podsByAnnotation = true
			}
		}
	}
	if !roles["node"] || !roles["pod"] || !podsByAnnotation {
		t.Errorf("Kubernetes SD roles %v, pods kept by prometheus.io/scrape: %v; want node and annotated pods", roles, podsByAnnotation)
	}

	rendered, err := reloader.Expand([]byte(tmpl), func(n string) (string, bool) {
		return map[string]string{"POD_NAME": "prometheus-0"}[n], n == "POD_NAME"
	})
	if err != nil {
		t.Fatalf("the reloader cannot render the template: %v", err)
	}
	// --syntax-only: the service-account files it names exist only in a pod.
	promtool(t, "check", "config", "--syntax-only", writeTemp(t, "prometheus.yml", rendered))
}

func TestPrometheusRulesLoad(t *testing.T) {
	b := loadBase(t)
	rules := configMapData(t, b.find(t, "ConfigMap", "prometheus-rules"))
	if len(rules) == 0 {
		t.Fatal("rules ConfigMap is empty")
	}
	for key, content := range rules {
		if !strings.HasSuffix(key, ".yaml") {
			t.Errorf("rule file %s does not match the config's rule_files glob *.yaml", key)
		}
		promtool(t, "check", "rules", writeTemp(t, key, []byte(content)))
	}
}

// promtool runs bin/promtool (built by `make tools`, which `make test` runs
// first) and fails the test when it rejects its input.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", "promtool"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not built (run `make tools`): %v", bin, err)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGrafanaDatasource(t *testing.T) {
	objs := decodeFile(t, filepath.Join("grafana", "datasource.yaml"))
	var prov struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Type     string            `yaml:"type"`
			URL      string            `yaml:"url"`
			JSONData map[string]string `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if len(objs) != 1 {
		t.Fatalf("want one document, got %d", len(objs))
	}
	objs[0].decode(t, &prov)
	if prov.APIVersion != 1 || len(prov.Datasources) != 1 {
		t.Fatalf("want provisioning apiVersion 1 with one data source, got %+v", prov)
	}
	ds := prov.Datasources[0]
	if ds.Type != "prometheus" || ds.JSONData["prometheusType"] != "Thanos" || ds.JSONData["httpMethod"] != "POST" || ds.JSONData["prometheusVersion"] == "" {
		t.Errorf("data source %+v: want type prometheus, prometheusType Thanos, a prometheusVersion, httpMethod POST", ds)
	}
	q, err := url.ParseQuery(ds.JSONData["customQueryParameters"])
	if err != nil || q.Get("dedup") != "true" || q.Get("partial_response") != "true" {
		t.Errorf("customQueryParameters = %q, want dedup=true&partial_response=true", ds.JSONData["customQueryParameters"])
	}

	// It points at the query Service's http port.
	b := loadBase(t)
	dep := b.all("Deployment")[0]
	var svc service
	b.find(t, "Service", dep.Metadata.Name).decode(t, &svc)
	port := 0
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			port = p.Port
		}
	}
	if want := fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", dep.Metadata.Name, b.namespace, port); ds.URL != want {
		t.Errorf("url = %q, want %q", ds.URL, want)
	}
}

// The flags deploy/ passes to tandem's subcommands are flags they define:
// read from `tandem <subcommand> --help`, so a renamed flag fails here, not
// in a cluster.
func TestFlagsExistInBinaries(t *testing.T) {
	b, op := loadBase(t), loadDir(t, "operator")
	used := map[string][]string{} // subcommand -> flags
	for _, o := range append(append(b.all("StatefulSet"), b.all("Deployment")...), op.all("Deployment")...) {
		var w workload
		o.decode(t, &w)
		for _, c := range w.Spec.Template.Spec.Containers {
			if c.Image != "tandem:latest" || len(c.Args) == 0 {
				continue
			}
			for _, a := range c.Args[1:] {
				name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				used[c.Args[0]] = append(used[c.Args[0]], name)
			}
		}
	}
	if len(used["sidecar"]) == 0 || len(used["query"]) == 0 {
		t.Fatalf("found no flags for sidecar or query: %v", used)
	}
	for sub, flags := range used {
		defined := definedFlags(t, sub)
		for _, f := range flags {
			if !defined[f] {
				t.Errorf("deploy/ passes --%s to tandem %s, which does not define it", f, sub)
			}
		}
	}
}

var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(?:\[no-\])?([a-z0-9._-]+)`)

// definedFlags are the flags `tandem sub --help` lists.
func definedFlags(t *testing.T, sub string) map[string]bool {
	t.Helper()
	return binaryFlags(t, "tandem", sub)
}

// binaryFlags are the flags `bin/<binary> sub --help` lists.
func binaryFlags(t *testing.T, binary, sub string) map[string]bool {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", binary))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, sub, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --help (run `make build` and `make tools`): %v\n%s", binary, sub, err, out)
	}
	defined := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		defined[m[1]] = true
	}
	if !defined["grpc-address"] {
		t.Fatalf("%s %s --help lists no --grpc-address:\n%s", binary, sub, out)
	}
	return defined
}

// The overlay moves everything to its own namespace and name suffix, gives
// Prometheus its own cluster label and otherwise the base's config, and
// points the query at the renamed headless Service.
func TestSecondClusterOverlay(t *testing.T) {
	dir := filepath.Join("overlays", "second-cluster")
	k := readKustomization(t, dir)
	b := loadBase(t)
	if k.Namespace == "" || k.Namespace == b.namespace || k.NameSuffix == "" {
		t.Fatalf("overlay namespace %q, nameSuffix %q: want a new namespace and a suffix", k.Namespace, k.NameSuffix)
	}

	var patched string
	for _, p := range k.Patches {
		if p.Path == "" {
			continue
		}
		for _, o := range decodeFile(t, filepath.Join(dir, p.Path)) {
			if o.Kind == "ConfigMap" && o.Metadata.Name == "prometheus-config" {
				patched = configMapData(t, o)[templateKey]
			}
		}
	}
	if patched == "" {
		t.Fatal("overlay does not patch the prometheus-config template")
	}
	baseTmpl := configMapData(t, b.find(t, "ConfigMap", "prometheus-config"))[templateKey]
	baseCluster := parseTemplate(t, baseTmpl).Global.ExternalLabels["cluster"]
	labels := parseTemplate(t, patched).Global.ExternalLabels
	if labels["cluster"] == "" || labels["cluster"] == baseCluster || labels["replica"] != "$(POD_NAME)" {
		t.Errorf("overlay external labels %v: want a cluster other than %q and replica $(POD_NAME)", labels, baseCluster)
	}
	// The copy must not drift from the base in anything but the label.
	if strings.Replace(patched, "cluster: "+labels["cluster"], "cluster: "+baseCluster, 1) != baseTmpl {
		t.Error("overlay's config template differs from the base's in more than the cluster label")
	}

	var sts workload
	b.all("StatefulSet")[0].decode(t, &sts)
	want := "--endpoint=" + dnssrvEndpoint(sts.Spec.ServiceName+k.NameSuffix, k.Namespace)
	var found bool
	for _, p := range k.Patches {
		found = found || strings.Contains(p.Patch, "value: "+want+"\n") || strings.HasSuffix(p.Patch, "value: "+want)
	}
	if !found {
		t.Errorf("overlay does not patch the query endpoint to %s", want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func anyString(v any) string { return fmt.Sprint(v) }
