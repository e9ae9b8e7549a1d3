package openmetrics_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tandem-metrics/tandem/internal/openmetrics"
)

func TestWriter(t *testing.T) {
	var b strings.Builder
	w := openmetrics.NewWriter(&b)
	w.Family("http_requests", "counter")
	s := w.Series("http_requests_total", labels.FromStrings("__name__", "ignored", "path", `a"b\c`+"\n", "code", "200"))
	s.Sample(1_740_787_200_005, 1)
	s.Sample(1_740_787_215_120, 2.5)
	w.Family("temperature", "gauge")
	g := w.Series("temperature", labels.EmptyLabels())
	g.Sample(-1500, math.Inf(-1))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `# TYPE http_requests counter
http_requests_total{code="200",path="a\"b\\c\n"} 1 1740787200.005
http_requests_total{code="200",path="a\"b\\c\n"} 2.5 1740787215.120
# TYPE temperature gauge
temperature -Inf -1.500
# EOF
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestTimestamps checks the seconds written for milliseconds, and that they
// read back as the same milliseconds.
func TestTimestamps(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "0.000"}, {1, "0.001"}, {15_000, "15.000"}, {1_735_689_600_123, "1735689600.123"}, {1_050, "1.050"}, {-1_500, "-1.500"},
	} {
		var b strings.Builder
		w := openmetrics.NewWriter(&b)
		w.Series("x", labels.EmptyLabels()).Sample(tc.ms, 0)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := strings.TrimPrefix(strings.Split(b.String(), "\n")[0], "x 0 ")
		if got != tc.want {
			t.Errorf("%d ms written as %s, want %s", tc.ms, got, tc.want)
		}
		if f, err := strconv.ParseFloat(got, 64); err != nil || int64(math.Round(f*1000)) != tc.ms {
			t.Errorf("%s does not read back as %d ms", got, tc.ms)
		}
	}
}
