package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
)

// Sample is one float sample of a series.
type Sample struct {
	T int64
	V float64
}

// Series is a series to load into a TSDB.
type Series struct {
	Labels  labels.Labels
	Samples []Sample
}

// OpenTSDB opens a real TSDB in a temporary directory, loaded with series,
// and closes it when the test ends.
func OpenTSDB(t testing.TB, series ...Series) *tsdb.DB {
	t.Helper()
	db, err := NewTSDB(t.TempDir(), series...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// NewTSDB opens a real TSDB in dir loaded with series; the caller closes it.
func NewTSDB(dir string, series ...Series) (*tsdb.DB, error) {
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return nil, fmt.Errorf("open tsdb: %w", err)
	}
	app := db.Appender(context.Background())
	for _, s := range series {
		for _, smpl := range s.Samples {
			if _, err := app.Append(0, s.Labels, smpl.T, smpl.V); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("append %s: %w", s.Labels, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("commit: %w", err)
	}
	return db, nil
}

// Ramp returns n samples from t0 every step ms with values 0, 1, 2, ...
func Ramp(t0, step int64, n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{T: t0 + int64(i)*step, V: float64(i)}
	}
	return out
}
