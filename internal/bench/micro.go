package bench

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// procsSuffix is the -GOMAXPROCS suffix go test adds to benchmark names.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// readMicro reads the benchmark lines of `go test -bench` output: each
// becomes the package's last path element, a slash and the benchmark name,
// with every "value unit" pair it reported.
func readMicro(file string) ([]MicroResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMicro(bufio.NewScanner(f))
}

func parseMicro(sc *bufio.Scanner) ([]MicroResult, error) {
	var (
		out []MicroResult
		pkg string
	)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = path.Base(strings.TrimSpace(p))
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue
		}
		r := MicroResult{Name: pkg + "/" + procsSuffix.ReplaceAllString(fields[0], ""), Metrics: map[string]float64{}}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", line, err)
			}
			r.Metrics[fields[i+1]] = v
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// micro returns the metric unit of the named benchmark.
func micro(rs []MicroResult, name, unit string) (float64, bool) {
	for _, r := range rs {
		if r.Name == name {
			v, ok := r.Metrics[unit]
			return v, ok
		}
	}
	return 0, false
}
