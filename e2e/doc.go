// Package e2e holds end-to-end tests that run the project's binaries next to
// real Prometheus servers, and next to Thanos's binaries to prove the two
// interoperate. It has no non-test code.
package e2e
