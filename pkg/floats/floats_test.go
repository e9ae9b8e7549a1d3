package floats_test

import (
	"errors"
	"math"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/tandem-metrics/tandem/pkg/floats"
)

var samples = []floats.Sample{{10, 1}, {20, 2}, {30, 3}, {40, 4}, {50, 5}}

func TestIteratorSeek(t *testing.T) {
	for _, tc := range []struct {
		name  string
		next  int // Next calls before the seeks
		seeks []int64
		want  []int64 // time after each seek, -1 for none
	}{
		{"to the first", 0, []int64{math.MinInt64}, []int64{10}},
		{"before the first", 0, []int64{5}, []int64{10}},
		{"exact", 0, []int64{30}, []int64{30}},
		{"between", 0, []int64{31}, []int64{40}},
		{"past the end", 0, []int64{51}, []int64{-1}},
		{"never backwards", 4, []int64{10}, []int64{40}},
		{"forward twice", 1, []int64{25, 45, 50}, []int64{30, 50, 50}},
		{"after the end", 0, []int64{60, 10}, []int64{-1, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var it floats.Iterator
			it.Reset(samples, nil)
			for range tc.next {
				it.Next()
			}
			for i, s := range tc.seeks {
				got := int64(-1)
				if it.Seek(s) == chunkenc.ValFloat {
					got = it.AtT()
				}
				if got != tc.want[i] {
					t.Fatalf("Seek(%d) at %d, want %d", s, got, tc.want[i])
				}
			}
		})
	}
}

func TestIteratorNextBefore(t *testing.T) {
	var it floats.Iterator
	it.Reset(samples, nil)
	for _, tc := range []struct {
		before int64
		want   int64 // -1: none
	}{
		{10, -1}, // the first is not before 10: nothing moves
		{11, 10},
		{100, 20},
		{30, -1},
		{31, 30},
	} {
		tm, f, ok := it.NextBefore(tc.before)
		got := int64(-1)
		if ok {
			got = tm
			if f != float64(tm/10) {
				t.Fatalf("NextBefore(%d): value %v at %d", tc.before, f, tm)
			}
		}
		if got != tc.want {
			t.Fatalf("NextBefore(%d) = %d, want %d", tc.before, got, tc.want)
		}
	}
	if at := it.AtT(); at != 30 {
		t.Fatalf("at %d after the calls, want 30", at)
	}
}

// TestIteratorErrAfterSamples checks that the error that ended the samples
// comes only once they have all been read.
func TestIteratorErrAfterSamples(t *testing.T) {
	errEnded := errors.New("chunk ends early")
	var it floats.Iterator
	it.Reset(samples[:2], errEnded)
	n := 0
	for it.Next() == chunkenc.ValFloat {
		if it.Err() != nil {
			t.Fatalf("error %v at sample %d of 2", it.Err(), n)
		}
		n++
	}
	if n != 2 || !errors.Is(it.Err(), errEnded) {
		t.Fatalf("%d samples, then error %v; want 2, then %v", n, it.Err(), errEnded)
	}
	if tm, f := it.At(); tm != 20 || f != 2 {
		t.Fatalf("At() after the end = %d, %v; want the last sample", tm, f)
	}
}
