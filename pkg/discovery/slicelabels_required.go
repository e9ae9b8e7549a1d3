//go:build !slicelabels

package discovery

// The label sets kept here are handed to code that converts them with
// labelpb's unsafe casts, which are only valid for the slice-based
// labels.Labels layout. Build and test with: go build -tags slicelabels (see
// the Makefile).
var _ = tandem_must_be_built_with_go_build_tags_slicelabels__see_Makefile
