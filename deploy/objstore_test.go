package deploy

import (
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/tandem-metrics/tandem/pkg/shipper"
)

// The object-storage overlay, as kustomize renders it: the sidecars upload
// Prometheus's 2h blocks from its data volume to the bucket in the Secret,
// which the sidecar's object store client accepts, and the query reads the
// store gateway that serves the same bucket.
func TestObjectStorageOverlay(t *testing.T) {
	ov := loadKustomized(t, filepath.Join("overlays", "object-storage"))

	var sts workload
	ov.find(t, "StatefulSet", "prometheus").decode(t, &sts)
	ps := sts.Spec.Template.Spec
	prom, sc := containerNamed(t, ps, "prometheus"), containerNamed(t, ps, "sidecar")
	minBlock, _ := prom.flag("storage.tsdb.min-block-duration")
	maxBlock, _ := prom.flag("storage.tsdb.max-block-duration")
	if minBlock == "" || minBlock != maxBlock {
		t.Errorf("Prometheus's block durations %q and %q: they must be set and equal, or the sidecar uploads nothing", minBlock, maxBlock)
	}
	promPath, _ := prom.flag("storage.tsdb.path")
	tsdbPath, _ := sc.flag("tsdb.path")
	if tsdbPath != promPath {
		t.Errorf("sidecar --tsdb.path=%q, Prometheus --storage.tsdb.path=%q", tsdbPath, promPath)
	}
	if sv, _ := sc.mountOf(t, tsdbPath); sv != sts.Spec.VolumeClaimTemplates[0].Metadata.Name {
		t.Errorf("sidecar mounts volume %q at %s, not Prometheus's data", sv, tsdbPath)
	}
	conf := objstoreConfig(t, ov, ps, sc)
	if _, err := shipper.NewBucket(conf, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil); err != nil {
		t.Errorf("the sidecar would not start with the Secret's config: %v", err)
	}
	checkFlags(t, "tandem", sc)

	var store workload
	storeObj := ov.find(t, "StatefulSet", "thanos-store")
	storeObj.decode(t, &store)
	sg := containerNamed(t, store.Spec.Template.Spec, "store")
	if len(sg.Args) == 0 || sg.Args[0] != "store" {
		t.Fatalf("store gateway args %v", sg.Args)
	}
	if got := objstoreConfig(t, ov, store.Spec.Template.Spec, sg); string(got) != string(conf) {
		t.Errorf("the store gateway reads another bucket config than the sidecars:\n%s", got)
	}
	checkFlags(t, "thanos", sg)
	checkProbesAndResources(t, storeObj)

	var svc service
	ov.find(t, "Service", store.Spec.ServiceName).decode(t, &svc)
	if svc.Spec.ClusterIP != "None" || !subset(svc.Spec.Selector, store.Spec.Template.Metadata.Labels) ||
		len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "grpc" || svc.Spec.Ports[0].Port != 10901 {
		t.Errorf("Service %s: %+v, want a headless one with port grpc 10901 selecting the store gateway", store.Spec.ServiceName, svc.Spec)
	}
	var query workload
	ov.find(t, "Deployment", "tandem-query").decode(t, &query)
	q := containerNamed(t, query.Spec.Template.Spec, "query")
	var endpoints []string
	for _, a := range q.Args {
		if v, ok := strings.CutPrefix(a, "--endpoint="); ok {
			endpoints = append(endpoints, v)
		}
	}
	want := []string{dnssrvEndpoint(sts.Spec.ServiceName, ov.namespace), dnssrvEndpoint(store.Spec.ServiceName, ov.namespace)}
	if !slices.Equal(endpoints, want) {
		t.Errorf("query endpoints %v, want %v", endpoints, want)
	}
}

// objstoreConfig is the bucket config that container c of pod ps reads
// with --objstore.config-file: a key of a Secret of the overlay.
func objstoreConfig(t *testing.T, ov base, ps podSpec, c container) []byte {
	t.Helper()
	file, ok := c.flag("objstore.config-file")
	if !ok {
		t.Fatalf("container %s has no --objstore.config-file", c.Name)
	}
	vol, mount := c.mountOf(t, file)
	for _, v := range ps.Volumes {
		if v.Name != vol || v.Secret == nil {
			continue
		}
		var secret struct {
			StringData map[string]string `yaml:"stringData"`
		}
		ov.find(t, "Secret", v.Secret.SecretName).decode(t, &secret)
		conf, ok := secret.StringData[strings.TrimPrefix(file, mount+"/")]
		if !ok {
			t.Fatalf("Secret %s has no key for %s", v.Secret.SecretName, file)
		}
		return []byte(conf)
	}
	t.Fatalf("container %s: %s is not on a Secret volume", c.Name, file)
	return nil
}

// checkFlags checks that c passes only flags bin/<binary> <args[0]> defines.
func checkFlags(t *testing.T, binary string, c container) {
	t.Helper()
	defined := binaryFlags(t, binary, c.Args[0])
	for _, a := range c.Args[1:] {
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); !defined[name] {
			t.Errorf("container %s passes --%s, which %s %s does not define", c.Name, name, binary, c.Args[0])
		}
	}
}

// loadKustomized reads the objects of the kustomization in dir, with those
// of the kustomizations it lists, and applies its inline JSON patches
// (RFC 6902: add and replace), as kustomize does.
func loadKustomized(t *testing.T, dir string) base {
	t.Helper()
	k := readKustomization(t, dir)
	b := base{namespace: k.Namespace}
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			b.objects = append(b.objects, loadKustomized(t, p).objects...)
			continue
		}
		b.objects = append(b.objects, decodeFile(t, p)...)
	}
	for _, p := range k.Patches {
		if p.Patch == "" || p.Target.Kind == "" || p.Target.Name == "" {
			t.Fatalf("%s: only inline JSON patches with a kind and name are read here", dir)
		}
		var ops []struct {
			Op    string `yaml:"op"`
			Path  string `yaml:"path"`
			Value any    `yaml:"value"`
		}
		if err := yaml.Unmarshal([]byte(p.Patch), &ops); err != nil {
			t.Fatalf("%s: patch of %s %s: %v", dir, p.Target.Kind, p.Target.Name, err)
		}
		o := b.find(t, p.Target.Kind, p.Target.Name)
		var doc any
		o.decode(t, &doc)
		for _, op := range ops {
			var err error
			if doc, err = applyOp(doc, strings.Split(strings.TrimPrefix(op.Path, "/"), "/"), op.Op, op.Value); err != nil {
				t.Fatalf("%s: %s %s on %s %s: %v", dir, op.Op, op.Path, p.Target.Kind, p.Target.Name, err)
			}
		}
		var n yaml.Node
		if err := n.Encode(doc); err != nil {
			t.Fatal(err)
		}
		for i := range b.objects {
			if b.objects[i].Kind == o.Kind && b.objects[i].Metadata.Name == o.Metadata.Name {
				b.objects[i].node = &n
			}
		}
	}
	return b
}

// applyOp applies one add or replace at path (split into its tokens) to
// doc and returns the result.
func applyOp(doc any, tokens []string, op string, value any) (any, error) {
	if len(tokens) == 0 {
		if op != "replace" && op != "add" {
			return nil, errUnsupported(op)
		}
		return value, nil
	}
	key := tokens[0]
	switch d := doc.(type) {
	case map[string]any:
		if len(tokens) == 1 && op == "replace" {
			if _, ok := d[key]; !ok {
				return nil, errMissing(key)
			}
		}
		child, err := applyOp(d[key], tokens[1:], op, value)
		if err != nil {
			return nil, err
		}
		d[key] = child
		return d, nil
	case []any:
		if len(tokens) == 1 && op == "add" && key == "-" {
			return append(d, value), nil
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(d) {
			return nil, errMissing(key)
		}
		if d[i], err = applyOp(d[i], tokens[1:], op, value); err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, errMissing(path.Join(tokens...))
}

type errUnsupported string

func (e errUnsupported) Error() string { return "unsupported op " + string(e) }

type errMissing string

func (e errMissing) Error() string { return "no " + string(e) }
