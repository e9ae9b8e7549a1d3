package deploy

import (
	"testing"
)

// The operator example: a Prometheus resource whose sidecar is Tandem's
// image, and a query that finds the sidecars where the operator puts them
// and deduplicates on the label the operator sets.
func TestOperatorExample(t *testing.T) {
	op := loadDir(t, "operator")
	proms := op.all("Prometheus")
	if len(proms) != 1 || proms[0].APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("want one monitoring.coreos.com/v1 Prometheus, got %d", len(proms))
	}
	var prom struct {
		Spec struct {
			Replicas                 *int   `yaml:"replicas"`
			ServiceAccountName       string `yaml:"serviceAccountName"`
			ReplicaExternalLabelName string `yaml:"replicaExternalLabelName"`
			Thanos                   *struct {
				Image   string `yaml:"image"`
				Version string `yaml:"version"`
			} `yaml:"thanos"`
		} `yaml:"spec"`
	}
	proms[0].decode(t, &prom)
	if prom.Spec.Thanos == nil || prom.Spec.Thanos.Image != "tandem:latest" {
		t.Fatalf("spec.thanos.image = %+v, want tandem:latest: the operator would run Thanos's sidecar", prom.Spec.Thanos)
	}
	if prom.Spec.Replicas == nil || *prom.Spec.Replicas < 2 {
		t.Errorf("replicas %v: an HA pair needs 2", prom.Spec.Replicas)
	}
	op.find(t, "ServiceAccount", prom.Spec.ServiceAccountName)

	// The operator labels each replica's data with this external label
	// (prometheus_replica unless the resource names another) and serves
	// the sidecars' gRPC port as "grpc" on the headless Service
	// prometheus-operated.
	replicaLabel := prom.Spec.ReplicaExternalLabelName
	if replicaLabel == "" {
		replicaLabel = "prometheus_replica"
	}
	var query workload
	op.find(t, "Deployment", "tandem-query").decode(t, &query)
	q := containerNamed(t, query.Spec.Template.Spec, "query")
	if len(q.Command) != 0 || len(q.Args) == 0 || q.Args[0] != "query" {
		t.Errorf("query command %v, args %v: want the image's entrypoint and the first argument query", q.Command, q.Args)
	}
	if v, _ := q.flag("query.replica-label"); v != replicaLabel {
		t.Errorf("--query.replica-label=%q, want the operator's %q", v, replicaLabel)
	}
	if v, _ := q.flag("endpoint"); v != dnssrvEndpoint("prometheus-operated", op.namespace) {
		t.Errorf("--endpoint=%q, want %s", v, dnssrvEndpoint("prometheus-operated", op.namespace))
	}
	op.find(t, "Service", "tandem-query")
}
