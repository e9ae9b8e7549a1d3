// Package store holds the Store API plumbing shared by the sidecar and the
// querier: the gRPC codec, label and matcher conversions, and (in
// subpackages) the Store API servers.
package store
