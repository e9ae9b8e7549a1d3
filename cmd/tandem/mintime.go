package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// timeOrDuration is an absolute RFC3339 time or a duration relative to now
// (negative for the past), as Thanos's --min-time takes it.
type timeOrDuration struct {
	abs *time.Time
	rel time.Duration
}

func (t *timeOrDuration) Set(s string) error {
	if ts, err := time.Parse(time.RFC3339, s); err == nil {
		t.abs, t.rel = &ts, 0
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	d, err := model.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil {
		return fmt.Errorf("invalid --min-time %q: want an RFC3339 time or a duration relative to now such as -2h", s)
	}
	t.abs, t.rel = nil, time.Duration(d)
	if neg {
		t.rel = -t.rel
	}
	return nil
}

func (t *timeOrDuration) String() string {
	if t.abs != nil {
		return t.abs.Format(time.RFC3339)
	}
	return t.rel.String()
}

// millis resolves the value against now.
func (t *timeOrDuration) millis(now time.Time) int64 {
	if t.abs != nil {
		return t.abs.UnixMilli()
	}
	return now.Add(t.rel).UnixMilli()
}
