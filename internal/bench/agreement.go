package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
)

// Agreement compares two answers to one query by value, point by point:
// the series are matched by their labels, the points by their time.
type Agreement struct {
	// Points is how many points both answers have; Equal of them are equal,
	// Close within 1%.
	Points int `json:"points"`
	Equal  int `json:"equal"`
	Close  int `json:"within_1_percent"`
	// OnlyOurs and OnlyTheirs are points one answer has and the other not:
	// the merge fills one replica's gaps from the other, where the replica
	// alone has none.
	OnlyOurs   int `json:"only_ours"`
	OnlyTheirs int `json:"only_theirs"`
}

// String is "99.1% equal, 99.8% within 1%, +120 / -3 points".
func (a Agreement) String() string {
	if a.Points == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%% equal, %.1f%% within 1%%, +%d / -%d points",
		100*float64(a.Equal)/float64(a.Points), 100*float64(a.Close)/float64(a.Points), a.OnlyOurs, a.OnlyTheirs)
}

// agree compares two results of the Prometheus HTTP API, vectors or
// matrices; histograms are compared by their count.
func agree(ours, theirs json.RawMessage) (Agreement, error) {
	a, err := points(ours)
	if err != nil {
		return Agreement{}, err
	}
	b, err := points(theirs)
	if err != nil {
		return Agreement{}, err
	}
	var ag Agreement
	for key, v := range a {
		w, ok := b[key]
		if !ok {
			ag.OnlyOurs++
			continue
		}
		ag.Points++
		if v == w || (math.IsNaN(v) && math.IsNaN(w)) {
			ag.Equal++
			ag.Close++
		} else if math.Abs(v-w) <= 0.01*math.Max(math.Abs(v), math.Abs(w)) {
			ag.Close++
		}
	}
	for key := range b {
		if _, ok := a[key]; !ok {
			ag.OnlyTheirs++
		}
	}
	return ag, nil
}

type pointKey struct {
	series string
	t      float64
}

func points(result json.RawMessage) (map[pointKey]float64, error) {
	var series []struct {
		Metric     map[string]string   `json:"metric"`
		Value      []json.RawMessage   `json:"value"`
		Values     [][]json.RawMessage `json:"values"`
		Histogram  []json.RawMessage   `json:"histogram"`
		Histograms [][]json.RawMessage `json:"histograms"`
	}
	if err := json.Unmarshal(result, &series); err != nil {
		return nil, fmt.Errorf("not a vector or matrix: %w", err)
	}
	out := map[pointKey]float64{}
	for _, s := range series {
		lset := labels.FromMap(s.Metric).String()
		all := s.Values
		if s.Value != nil {
			all = append(all, s.Value)
		}
		all = append(all, s.Histograms...)
		if s.Histogram != nil {
			all = append(all, s.Histogram)
		}
		for _, p := range all {
			if len(p) != 2 {
				return nil, fmt.Errorf("%s: a point of %d fields", lset, len(p))
			}
			var t float64
			if err := json.Unmarshal(p[0], &t); err != nil {
				return nil, fmt.Errorf("%s: time: %w", lset, err)
			}
			v, err := pointValue(p[1])
			if err != nil {
				return nil, fmt.Errorf("%s at %v: %w", lset, t, err)
			}
			out[pointKey{lset, t}] = v
		}
	}
	return out, nil
}

// pointValue is a float's value, or a histogram's count.
func pointValue(raw json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strconv.ParseFloat(s, 64)
	}
	var h struct {
		Count string `json:"count"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, err
	}
	return strconv.ParseFloat(h.Count, 64)
}
