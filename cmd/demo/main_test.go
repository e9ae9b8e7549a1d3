package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-metrics/tandem/internal/e2etest"
	"github.com/tandem-metrics/tandem/internal/promtest"
)

// addrFlags are the demo's listen-address flags.
var addrFlags = []string{
	"prometheus.r0-address", "prometheus.r1-address",
	"sidecar.r0-grpc-address", "sidecar.r1-grpc-address",
	"sidecar.r0-http-address", "sidecar.r1-http-address",
	"query.http-address", "query.grpc-address",
}

// freeAddrs gives every listen-address flag a free loopback port.
func freeAddrs(t *testing.T) map[string]string {
	addrs := map[string]string{}
	for i, a := range promtest.FreeAddrs(t, len(addrFlags)) {
		addrs[addrFlags[i]] = a
	}
	return addrs
}

func demoArgs(t *testing.T, workDir string, addrs map[string]string) []string {
	args := []string{"--bin-dir=" + filepath.Dir(promtest.Binary(t, "demo")), "--work-dir=" + workDir}
	for _, f := range addrFlags {
		args = append(args, "--"+f+"="+addrs[f])
	}
	return args
}

// running is the demo process and what it printed so far.
type running struct {
	cmd    *exec.Cmd
	lines  chan string
	out    []string
	stderr bytes.Buffer
	exited chan struct{}
}

func startDemo(t *testing.T, args ...string) *running {
	t.Helper()
	d := &running{cmd: exec.Command(promtest.Binary(t, "demo"), args...), lines: make(chan string, 1024), exited: make(chan struct{})}
	d.cmd.Stderr = &d.stderr
	// Its own process group, as a shell gives a foreground job.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		// A test that failed half way still stops everything it started.
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Signal(syscall.SIGINT)
			d.wait(t, time.Minute)
		}
	})
	return d
}

// waitFor reads output until a line matches re, and returns its submatches.
func (d *running) waitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("demo ended before printing %q:\n%s\nstderr: %s", re, strings.Join(d.out, "\n"), d.stderr.String())
			}
			d.out = append(d.out, line)
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %q after %v:\n%s", re, timeout, strings.Join(d.out, "\n"))
		}
	}
}

// wait drains the output and waits for the exit, returning the exit code.
func (d *running) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for line := range d.lines {
			d.out = append(d.out, line)
		}
		done <- d.cmd.Wait()
	}()
	select {
	case err := <-done:
		close(d.exited)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-done
		close(d.exited)
		t.Fatalf("demo still running %v after it was told to stop", timeout)
		return -1
	}
}

var (
	pidLine    = regexp.MustCompile(`^Started (\S+)\s+\(pid (\d+)\)`)
	readyLine  = regexp.MustCompile(`UI: (http://\S+)/$`)
	historyRe  = regexp.MustCompile(`^History from (\S+) to (\S+),`)
	outageLine = regexp.MustCompile(`^\s+(r\d) down from (\S+) to (\S+) `)
)

func TestDemo(t *testing.T) {
	addrs := freeAddrs(t)
	d := startDemo(t, append(demoArgs(t, t.TempDir(), addrs), "--history=1h")...)
	d.waitFor(t, readyLine, 3*time.Minute)
	pids := map[string]int{}
	outages := map[string][2]time.Time{}
	for _, line := range d.out {
		if m := pidLine.FindStringSubmatch(line); m != nil {
			pids[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	end := parseTime(t, d.waitFor(t, historyRe, 10*time.Second)[2])
	for range 2 {
		m := d.waitFor(t, outageLine, 10*time.Second)
		outages[m[1]] = [2]time.Time{parseTime(t, m[2]), parseTime(t, m[3])}
	}
	if len(pids) != 5 || len(outages) != 2 {
		t.Fatalf("want 5 children and an outage in each replica, got %v and %v:\n%s", pids, outages, strings.Join(d.out, "\n"))
	}

	ctx := t.Context()
	base := "http://" + addrs["query.http-address"]
	query := func(q string, at time.Time, dedup bool) []e2etest.VectorSample {
		t.Helper()
		return e2etest.Vector(t, e2etest.API(ctx, t, base, "/api/v1/query", url.Values{
			"query": {q}, "time": {strconv.FormatInt(at.Unix(), 10)}, "dedup": {strconv.FormatBool(dedup)},
		}))
	}

	// Ready means the live data answers: what the demo suggests works at
	// once.
	if up := e2etest.Vector(t, e2etest.API(ctx, t, base, "/api/v1/query", url.Values{"query": {"count(up)"}})); len(up) == 0 {
		t.Errorf("count(up) is empty right after the demo said it was ready")
	}

	// Both replicas evaluate the demo's rules: one group, through the query.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name string `json:"name"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(e2etest.API(ctx, t, base, "/api/v1/rules", nil).Data, &rules); err != nil || len(rules.Groups) != 1 || len(rules.Groups[0].Rules) != 3 {
		t.Errorf("rules %+v (%v), want the demo's group of three, deduplicated", rules, err)
	}

	// 3 instances x 3 codes; every series once per replica without dedup.
	const series = 9
	merged := query("demo_http_requests_total", end, true)
	apart := query("demo_http_requests_total", end, false)
	if len(merged) != series || len(apart) != 2*len(merged) {
		t.Fatalf("%d series with dedup and %d without, want %d and twice that", len(merged), len(apart), series)
	}
	for _, s := range merged {
		if _, ok := s.Metric["replica"]; ok || s.Metric["cluster"] != "demo" {
			t.Errorf("deduplicated series %v: want cluster=demo and no replica label", s.Metric)
		}
	}

	// Inside each replica's outage only the other replica has data, and the
	// deduplicated series has it too.
	for down, window := range outages {
		up := map[string]string{"r0": "r1", "r1": "r0"}[down]
		mid := window[0].Add(window[1].Sub(window[0]) / 2)
		q := "count_over_time(demo_http_requests_total[1m])"
		for _, s := range query(q, mid, false) {
			if s.Metric["replica"] != up {
				t.Errorf("%s was down at %v, yet has %v", down, mid, s)
			}
		}
		got := query(q, mid, true)
		if len(got) != series {
			t.Errorf("while %s was down: %d deduplicated series, want %d", down, len(got), series)
		}
		for _, s := range got {
			// 4 scrapes a minute; one may be missed.
			if n, _ := strconv.ParseFloat(s.Value[1].(string), 64); n < 3 {
				t.Errorf("while %s was down: %v, want at least 3 samples in the minute", down, s)
			}
		}
	}

	// Ctrl-C on a terminal signals the whole foreground process group.
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGINT, want 0:\n%s\nstderr: %s", code, strings.Join(d.out, "\n"), d.stderr.String())
	}
	// The demo waits for every child before it exits, so none may be left
	// even for a moment: not orphaned, not killed later by anyone else.
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after the demo exited (kill 0: %v)", name, pid, err)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for f, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("--%s %s still taken after the demo stopped: %v", f, addr, err)
			continue
		}
		l.Close()
	}
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestAddressConflicts checks that a busy or doubly used port stops the
// demo before it writes or starts anything, in one line that names the
// address and who wanted it.
func TestAddressConflicts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		busy      string   // flag whose address something else holds
		same      []string // flags set to one address
		wantParts []string
	}{
		{name: "prometheus port busy", busy: "prometheus.r0-address", wantParts: []string{"already in use", "prometheus-r0"}},
		{name: "sidecar port busy", busy: "sidecar.r1-grpc-address", wantParts: []string{"already in use", "sidecar-r1 (gRPC)"}},
		{name: "query port busy", busy: "query.http-address", wantParts: []string{"already in use", "query (HTTP)"}},
		{name: "one port twice", same: []string{"sidecar.r0-http-address", "query.grpc-address"}, wantParts: []string{"sidecar-r0 (HTTP)", "query (gRPC)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workDir := filepath.Join(t.TempDir(), "demo")
			addrs := freeAddrs(t)
			var addr string
			if tc.busy != "" {
				l, err := net.Listen("tcp", addrs[tc.busy])
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				addr = addrs[tc.busy]
			}
			for _, f := range tc.same {
				addr = addrs[tc.same[0]]
				addrs[f] = addr
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, promtest.Binary(t, "demo"), demoArgs(t, workDir, addrs)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 || ctx.Err() != nil {
				t.Fatalf("want a non-zero exit, got %v:\n%s%s", err, stdout.String(), stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 {
				t.Errorf("want one line, got %q", msg)
			}
			for _, want := range append(tc.wantParts, addr) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("printed before failing: %q", stdout.String())
			}
			if _, err := os.Stat(workDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("work dir created before the addresses were checked (%v)", err)
			}
		})
	}
}
