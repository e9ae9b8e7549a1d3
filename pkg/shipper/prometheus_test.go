package shipper

import (
	"strings"
	"testing"
)

// TestCheckFlags decides, from the flags Prometheus's API reports, whether
// its blocks can be shipped as they are cut.
func TestCheckFlags(t *testing.T) {
	const meta = "/prometheus/thanos.shipper.json"
	for _, tc := range []struct {
		name          string
		flags         map[string]string
		ignoreUnequal bool
		wantErr       string // empty: no error
		wantWarnings  int
	}{
		{"equal", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "2h"}, false, "", 0},
		{"equal, spelt differently", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "120m"}, false, "", 0},
		{"short blocks", map[string]string{"storage.tsdb.min-block-duration": "2m", "storage.tsdb.max-block-duration": "2m"}, false, "", 1},
		{"compacting", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "1d"}, false,
			"Prometheus compacts its blocks (--storage.tsdb.min-block-duration=2h, --storage.tsdb.max-block-duration=1d)", 0},
		{"compacting, ignored", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "1d"}, true, "", 1},
		{"compaction delayed until uploaded", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "1d",
			"storage.tsdb.delay-compact-file.path": "/prometheus/./thanos.shipper.json"}, false, "", 0},
		{"compaction delayed by another file", map[string]string{"storage.tsdb.min-block-duration": "2h", "storage.tsdb.max-block-duration": "2h",
			"storage.tsdb.delay-compact-file.path": "/prometheus/other.json"}, true, "--storage.tsdb.delay-compact-file.path=/prometheus/other.json, but the shipper writes " + meta, 0},
		{"not a Prometheus", map[string]string{}, false, "--storage.tsdb.min-block-duration", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings, err := checkFlags(tc.flags, meta, tc.ignoreUnequal)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if len(warnings) != tc.wantWarnings {
				t.Errorf("warnings %q, want %d", warnings, tc.wantWarnings)
			}
		})
	}
}
