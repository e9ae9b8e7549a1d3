// Package deploy holds Tandem's Kubernetes manifests (kustomize: base/ and
// overlays/) and Grafana provisioning (grafana/). It has no code: its tests
// decode every manifest and check what a cluster would only reveal at
// runtime, such as a query endpoint that names the wrong Service.
package deploy
