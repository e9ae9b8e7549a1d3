package main

import (
	"runtime/debug"
	"strconv"
)

// queryGCPercent is the query's GOGC unless the environment sets one.
//
// Go's default, 100, lets the heap grow to twice what survived the last
// collection before the next one. The query's heap at its peak is mostly
// PromQL's matrices, the stores' frames and the answer being encoded:
// buffers without pointers that live for one query, so collecting them
// sooner costs little CPU, and it is the difference between a query's peak
// and what it holds (see the README's performance section for both).
const queryGCPercent = 50

// setGCPercent sets Go's garbage collection target percentage to def unless
// GOGC, as lookup reads the environment, says otherwise, and returns the
// percentage in force, as GOGC spells it. An empty GOGC, as a manifest's
// env entry without a value gives, counts as unset.
func setGCPercent(def int, lookup func(string) (string, bool)) string {
	if v, ok := lookup("GOGC"); ok && v != "" {
		return v
	}
	debug.SetGCPercent(def)
	return strconv.Itoa(def)
}
