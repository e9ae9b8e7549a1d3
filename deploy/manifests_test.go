package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The subset of Kubernetes objects the tests look at.

type meta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type object struct {
	file string
	node *yaml.Node

	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
}

func (o object) decode(t *testing.T, v any) {
	t.Helper()
	if err := o.node.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
}

type workload struct {
	Spec struct {
		Replicas    *int   `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName string `yaml:"serviceAccountName"`
	Affinity           struct {
		PodAntiAffinity struct {
			Required []affinityTerm `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
		} `yaml:"podAntiAffinity"`
	} `yaml:"affinity"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		EmptyDir *struct{} `yaml:"emptyDir"`
		Secret   *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type affinityTerm struct {
	TopologyKey   string `yaml:"topologyKey"`
	LabelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"labelSelector"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type service struct {
	Spec struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type kustomization struct {
	Namespace  string   `yaml:"namespace"`
	NameSuffix string   `yaml:"nameSuffix"`
	Resources  []string `yaml:"resources"`
	Patches    []struct {
		Path   string `yaml:"path"`
		Patch  string `yaml:"patch"`
		Target struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"target"`
	} `yaml:"patches"`
}

// decodeFile decodes every YAML document in path.
func decodeFile(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var objs []object
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		o := object{file: path, node: &n}
		if err := n.Decode(&o); err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		objs = append(objs, o)
	}
}

// yamlFiles lists the YAML files under dir.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	objs := decodeFile(t, filepath.Join(dir, "kustomization.yaml"))
	if len(objs) != 1 || objs[0].Kind != "Kustomization" {
		t.Fatalf("%s/kustomization.yaml: want one Kustomization document", dir)
	}
	var k kustomization
	objs[0].decode(t, &k)
	return k
}

// base is deploy/base as kustomize would emit it, as far as the tests need:
// every resource file's objects, in the kustomization's namespace.
type base struct {
	namespace string
	objects   []object
}

func loadBase(t *testing.T) base { return loadDir(t, "base") }

// loadDir reads the objects the kustomization in dir lists.
func loadDir(t *testing.T, dir string) base {
	t.Helper()
	k := readKustomization(t, dir)
	if k.Namespace == "" {
		t.Fatalf("%s/kustomization.yaml sets no namespace", dir)
	}
	b := base{namespace: k.Namespace}
	for _, r := range k.Resources {
		b.objects = append(b.objects, decodeFile(t, filepath.Join(dir, r))...)
	}
	return b
}

func (b base) find(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range b.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("base has no %s %q", kind, name)
	return object{}
}

func (b base) all(kind string) []object {
	var out []object
	for _, o := range b.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (c container) flag(name string) (string, bool) {
	for _, a := range append(c.Command, c.Args...) {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name {
			return "", true
		}
	}
	return "", false
}

func (c container) mountOf(t *testing.T, path string) (volume string, mountPath string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return m.Name, m.MountPath
		}
	}
	t.Fatalf("container %s mounts nothing at %s", c.Name, path)
	return "", ""
}

func containerNamed(t *testing.T, ps podSpec, name string) container {
	t.Helper()
	for _, c := range ps.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod has no container %q", name)
	return container{}
}

func volumeConfigMap(ps podSpec, volume string) (string, bool) {
	for _, v := range ps.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			return v.ConfigMap.Name, true
		}
	}
	return "", false
}

func isEmptyDir(ps podSpec, volume string) bool {
	for _, v := range ps.Volumes {
		if v.Name == volume {
			return v.EmptyDir != nil
		}
	}
	return false
}

func subset(small, big map[string]string) bool {
	if len(small) == 0 {
		return false
	}
	for k, v := range small {
		if big[k] != v {
			return false
		}
	}
	return true
}

func dnssrvEndpoint(svc, namespace string) string {
	return fmt.Sprintf("dnssrv+_grpc._tcp.%s.%s.svc.cluster.local", svc, namespace)
}
