//go:build !slicelabels

package store

// labelpb converts between its wire labels and labels.Labels with unsafe
// casts that are only valid for the slice-based labels.Labels layout. A build
// without that layout would silently corrupt every label, so it must not
// compile at all. Build and test with: go build -tags slicelabels (see the
// Makefile).
var _ = tandem_must_be_built_with_go_build_tags_slicelabels__see_Makefile
