package main

import (
	"runtime/debug"
	"testing"
)

// TestSetGCPercent checks that the query's GOGC applies only where the
// environment sets none.
func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    string
		percent int // in force afterwards
	}{
		{"unset", nil, "50", 50},
		{"set", map[string]string{"GOGC": "200"}, "200", 100},
		{"off", map[string]string{"GOGC": "off"}, "off", 100},
		{"empty", map[string]string{"GOGC": ""}, "50", 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			got := setGCPercent(queryGCPercent, func(k string) (string, bool) {
				v, ok := tc.env[k]
				return v, ok
			})
			if got != tc.want {
				t.Errorf("reported GOGC %q, want %q", got, tc.want)
			}
			if p := debug.SetGCPercent(100); p != tc.percent {
				t.Errorf("GOGC in force %d, want %d", p, tc.percent)
			}
		})
	}
}
