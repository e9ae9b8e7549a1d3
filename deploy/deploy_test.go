package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEveryYAMLDocumentDecodes(t *testing.T) {
	files := yamlFiles(t, ".")
	if len(files) < 10 {
		t.Fatalf("found only %d YAML files under deploy/: %v", len(files), files)
	}
	for _, f := range files {
		objs := decodeFile(t, f)
		if len(objs) == 0 {
			t.Errorf("%s: no YAML documents", f)
		}
		if strings.HasPrefix(f, "grafana/") {
			continue // Grafana provisioning, not Kubernetes objects
		}
		for _, o := range objs {
			if o.APIVersion == "" || o.Kind == "" {
				t.Errorf("%s: a document without apiVersion or kind", f)
			}
			if o.Kind != "Kustomization" && o.Metadata.Name == "" {
				t.Errorf("%s: %s without metadata.name", f, o.Kind)
			}
		}
	}
}

// Every file a kustomization names exists, and every manifest file is named
// by one: a file kustomize never reads is a change that never ships.
func TestKustomizationsListExistingFiles(t *testing.T) {
	listed := map[string]bool{}
	for _, f := range yamlFiles(t, ".") {
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		dir := filepath.Dir(f)
		k := readKustomization(t, dir)
		paths := slices.Clone(k.Resources)
		for _, p := range k.Patches {
			if p.Path != "" {
				paths = append(paths, p.Path)
			}
		}
		if len(paths) == 0 {
			t.Errorf("%s lists nothing", f)
		}
		for _, p := range paths {
			full := filepath.Join(dir, p)
			fi, err := os.Stat(full)
			if err != nil {
				t.Errorf("%s lists %s: %v", f, p, err)
				continue
			}
			if fi.IsDir() {
				if _, err := os.Stat(filepath.Join(full, "kustomization.yaml")); err != nil {
					t.Errorf("%s lists directory %s without a kustomization.yaml", f, p)
				}
				continue
			}
			listed[filepath.Clean(full)] = true
		}
	}
	for _, f := range yamlFiles(t, ".") {
		if strings.HasPrefix(f, "grafana/") || filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		if !listed[filepath.Clean(f)] {
			t.Errorf("%s is in no kustomization", f)
		}
	}
}

func TestPrometheusStatefulSet(t *testing.T) {
	b := loadBase(t)
	sets := b.all("StatefulSet")
	if len(sets) != 1 {
		t.Fatalf("want one StatefulSet, got %d", len(sets))
	}
	var sts workload
	sets[0].decode(t, &sts)
	ps := sts.Spec.Template.Spec
	podLabels := sts.Spec.Template.Metadata.Labels

	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", sts.Spec.Replicas)
	}
	if !subset(sts.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("selector %v does not select the pod labels %v", sts.Spec.Selector.MatchLabels, podLabels)
	}
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		t.Fatal("no volumeClaimTemplates: the TSDB would live in the pod")
	}
	anti := ps.Affinity.PodAntiAffinity.Required
	if len(anti) == 0 || anti[0].TopologyKey != "kubernetes.io/hostname" || !subset(anti[0].LabelSelector.MatchLabels, podLabels) {
		t.Errorf("required pod anti-affinity on kubernetes.io/hostname selecting the replicas' own labels is missing: %+v", anti)
	}

	prom := containerNamed(t, ps, "prometheus")
	if _, ok := prom.flag("web.enable-lifecycle"); !ok {
		t.Error("prometheus runs without --web.enable-lifecycle: the reloader's POST /-/reload would be refused")
	}
	dataVol, _ := prom.mountOf(t, "/prometheus")
	if tsdb, _ := prom.flag("storage.tsdb.path"); tsdb == "" || dataVol != sts.Spec.VolumeClaimTemplates[0].Metadata.Name {
		t.Errorf("TSDB path %q is not on the volume claim %q (mounted: %q)", tsdb, sts.Spec.VolumeClaimTemplates[0].Metadata.Name, dataVol)
	}

	sc := containerNamed(t, ps, "sidecar")
	promPath, _ := prom.flag("storage.tsdb.path")
	if tsdbPath, _ := sc.flag("tsdb.path"); tsdbPath != promPath {
		t.Errorf("sidecar --tsdb.path=%q, Prometheus --storage.tsdb.path=%q: it would read every block through remote read", tsdbPath, promPath)
	} else if sv, _ := sc.mountOf(t, tsdbPath); sv != dataVol {
		t.Errorf("sidecar mounts volume %q at %s, not Prometheus's data %q", sv, tsdbPath, dataVol)
	}
	if len(sc.Command) != 0 || len(sc.Args) == 0 || sc.Args[0] != "sidecar" {
		t.Errorf("sidecar command %v, args %v: want the image's entrypoint and the first argument sidecar", sc.Command, sc.Args)
	}
	if u, _ := sc.flag("prometheus.url"); u != "http://localhost:9090" {
		t.Errorf("--prometheus.url = %q", u)
	}
	var podName bool
	for _, e := range sc.Env {
		if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			podName = true
		}
	}
	if !podName {
		t.Error("sidecar has no POD_NAME env from fieldRef metadata.name: $(POD_NAME) would be unset")
	}

	// The reloader reads the template from the config ConfigMap and writes
	// the file Prometheus reads, on an emptyDir both containers mount.
	in, _ := sc.flag("reloader.config-file")
	out, _ := sc.flag("reloader.config-envsubst-file")
	ruleDir, _ := sc.flag("reloader.rule-dir")
	if in == "" || out == "" || ruleDir == "" {
		t.Fatalf("sidecar reloader flags incomplete: config-file=%q envsubst-file=%q rule-dir=%q", in, out, ruleDir)
	}
	inVol, inMount := sc.mountOf(t, in)
	cm, ok := volumeConfigMap(ps, inVol)
	if !ok {
		t.Fatalf("--reloader.config-file %s is not on a ConfigMap volume", in)
	}
	cfgMap := b.find(t, "ConfigMap", cm)
	var data struct {
		Data map[string]string `yaml:"data"`
	}
	cfgMap.decode(t, &data)
	if _, ok := data.Data[strings.TrimPrefix(in, inMount+"/")]; !ok {
		t.Errorf("ConfigMap %s has no key for %s", cm, in)
	}
	if promCfg, _ := prom.flag("config.file"); promCfg != out {
		t.Errorf("prometheus --config.file = %q, but the reloader writes %q", promCfg, out)
	}
	outVol, _ := sc.mountOf(t, out)
	promOutVol, _ := prom.mountOf(t, out)
	if outVol != promOutVol || !isEmptyDir(ps, outVol) {
		t.Errorf("rendered config volume: sidecar %q, prometheus %q; want one shared emptyDir", outVol, promOutVol)
	}
	ruleVol, _ := sc.mountOf(t, ruleDir)
	promRuleVol, _ := prom.mountOf(t, ruleDir)
	if rc, ok := volumeConfigMap(ps, ruleVol); !ok || ruleVol != promRuleVol {
		t.Errorf("rule dir %s: sidecar volume %q (ConfigMap %q), prometheus volume %q", ruleDir, ruleVol, rc, promRuleVol)
	}

	// The ServiceAccount is the one the ClusterRoleBinding grants.
	var crb struct {
		RoleRef struct {
			Kind, Name string
		} `yaml:"roleRef"`
		Subjects []struct {
			Kind, Name, Namespace string
		} `yaml:"subjects"`
	}
	b.find(t, "ServiceAccount", ps.ServiceAccountName)
	b.find(t, "ClusterRoleBinding", ps.ServiceAccountName).decode(t, &crb)
	if len(crb.Subjects) != 1 || crb.Subjects[0].Name != ps.ServiceAccountName || crb.Subjects[0].Namespace != b.namespace {
		t.Errorf("ClusterRoleBinding subjects %+v do not name ServiceAccount %s/%s", crb.Subjects, b.namespace, ps.ServiceAccountName)
	}
	b.find(t, crb.RoleRef.Kind, crb.RoleRef.Name)
}

func TestClusterRoleAllowsServiceDiscovery(t *testing.T) {
	b := loadBase(t)
	var role struct {
		Rules []struct {
			APIGroups       []string `yaml:"apiGroups"`
			Resources       []string `yaml:"resources"`
			NonResourceURLs []string `yaml:"nonResourceURLs"`
			Verbs           []string `yaml:"verbs"`
		} `yaml:"rules"`
	}
	b.find(t, "ClusterRole", "prometheus").decode(t, &role)
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, res := range append(r.Resources, r.NonResourceURLs...) {
			for _, v := range r.Verbs {
				granted[res+":"+v] = true
			}
		}
	}
	for _, res := range []string{"nodes", "nodes/metrics", "services", "endpoints", "endpointslices", "pods"} {
		for _, v := range []string{"get", "list", "watch"} {
			if !granted[res+":"+v] {
				t.Errorf("ClusterRole does not grant %s on %s", v, res)
			}
		}
	}
	if !granted["/metrics:get"] {
		t.Error("ClusterRole does not grant get on /metrics")
	}
}

func TestHeadlessServiceAndQuery(t *testing.T) {
	b := loadBase(t)
	var sts workload
	stsObj := b.all("StatefulSet")[0]
	stsObj.decode(t, &sts)

	var headless service
	b.find(t, "Service", sts.Spec.ServiceName).decode(t, &headless)
	if headless.Spec.ClusterIP != "None" {
		t.Errorf("Service %s: clusterIP = %q, want None (headless, for DNS SRV)", sts.Spec.ServiceName, headless.Spec.ClusterIP)
	}
	if !subset(headless.Spec.Selector, sts.Spec.Template.Metadata.Labels) {
		t.Errorf("Service %s selects %v, not the Prometheus pods %v", sts.Spec.ServiceName, headless.Spec.Selector, sts.Spec.Template.Metadata.Labels)
	}
	var grpcPort bool
	for _, p := range headless.Spec.Ports {
		grpcPort = grpcPort || (p.Name == "grpc" && p.Port == 10901)
	}
	if !grpcPort {
		t.Errorf("Service %s has no port named grpc on 10901: %+v", sts.Spec.ServiceName, headless.Spec.Ports)
	}

	deps := b.all("Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deps))
	}
	var query workload
	deps[0].decode(t, &query)
	if query.Spec.Replicas == nil || *query.Spec.Replicas != 2 {
		t.Errorf("query replicas = %v, want 2", query.Spec.Replicas)
	}
	q := containerNamed(t, query.Spec.Template.Spec, "query")
	if len(q.Command) != 0 || len(q.Args) == 0 || q.Args[0] != "query" {
		t.Errorf("query command %v, args %v: want the image's entrypoint and the first argument query", q.Command, q.Args)
	}
	if ep, _ := q.flag("endpoint"); ep != dnssrvEndpoint(sts.Spec.ServiceName, b.namespace) {
		t.Errorf("--endpoint = %q, want %q", ep, dnssrvEndpoint(sts.Spec.ServiceName, b.namespace))
	}
	if rl, _ := q.flag("query.replica-label"); rl != "replica" {
		t.Errorf("--query.replica-label = %q, want replica", rl)
	}

	var qsvc service
	b.find(t, "Service", deps[0].Metadata.Name).decode(t, &qsvc)
	if !subset(qsvc.Spec.Selector, query.Spec.Template.Metadata.Labels) {
		t.Errorf("query Service selects %v, not the query pods", qsvc.Spec.Selector)
	}
	ports := map[string]string{}
	for _, p := range qsvc.Spec.Ports {
		ports[p.Name] = strings.TrimSpace(strings.Join([]string{itoa(p.Port), anyString(p.TargetPort)}, "->"))
	}
	if ports["http"] != "9090->http" || ports["grpc"] != "10901->grpc" {
		t.Errorf("query Service ports = %v, want http 9090->http(10902), grpc 10901->grpc", ports)
	}
	for name, want := range map[string]int{"http": 10902, "grpc": 10901} {
		var found bool
		for _, p := range q.Ports {
			found = found || (p.Name == name && p.ContainerPort == want)
		}
		if !found {
			t.Errorf("query container has no port %s = %d", name, want)
		}
	}
}

// Every container in every workload has readiness and liveness probes on
// Prometheus's conventional paths, and resource requests and a memory limit.
func TestEveryContainerHasProbesAndResources(t *testing.T) {
	b := loadBase(t)
	n := 0
	for _, o := range append(b.all("StatefulSet"), b.all("Deployment")...) {
		n += checkProbesAndResources(t, o)
	}
	if n != 3 {
		t.Errorf("checked %d containers, want 3 (prometheus, sidecar, query)", n)
	}
}

// checkProbesAndResources checks the containers of workload o and returns
// how many it checked.
func checkProbesAndResources(t *testing.T, o object) int {
	t.Helper()
	var w workload
	o.decode(t, &w)
	n := 0
	for _, c := range append(w.Spec.Template.Spec.InitContainers, w.Spec.Template.Spec.Containers...) {
		n++
		where := o.Kind + "/" + o.Metadata.Name + " container " + c.Name
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
			t.Errorf("%s: readinessProbe is not an HTTP GET of /-/ready", where)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/-/healthy" {
			t.Errorf("%s: livenessProbe is not an HTTP GET of /-/healthy", where)
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
			t.Errorf("%s: resource requests %v lack cpu or memory", where, c.Resources.Requests)
		}
		if c.Resources.Limits["memory"] == "" {
			t.Errorf("%s: no memory limit", where)
		}
	}
	return n
}
