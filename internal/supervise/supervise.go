// Package supervise runs the child processes of the tests, the benchmark
// and the demo: start with the output in a log file, wait until ready,
// stop gracefully, and read what the process cost.
package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options say how to run one process.
type Options struct {
	// Name is how errors call the process.
	Name string
	// Path is the binary; Args its arguments.
	Path string
	Args []string
	// Log is the file that takes its output; a restarted process appends.
	Log string
	// Group puts the process in a process group of its own, so that a
	// Ctrl-C on the terminal reaches only the parent, which then stops its
	// children in order; Stop signals the whole group.
	Group bool
}

// Process is one running child. Should the parent die, the kernel sends the
// child SIGTERM (on Linux), so no child outlives it.
type Process struct {
	opts Options
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result, valid once done is closed
}

// Start runs the process.
func Start(opts Options) (*Process, error) {
	logf, err := os.OpenFile(opts.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr(opts.Group)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", opts.Name, err)
	}
	p := &Process{opts: opts, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the process's name in errors.
func (p *Process) Name() string { return p.opts.Name }

// Pid is the process id (with Group, also the process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code of an exited process, -1 if it was killed by a
// signal or is still running.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM and waits for the process to exit, killing it if that
// takes longer than grace; the error says so.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.signal(syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.opts.Name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	_ = p.signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %v and was killed", p.opts.Name, grace)
}

func (p *Process) signal(sig syscall.Signal) error {
	if p.opts.Group {
		return syscall.Kill(-p.Pid(), sig)
	}
	return p.cmd.Process.Signal(sig)
}

// ExitError describes an unexpected exit, with the end of the log.
func (p *Process) ExitError() error {
	status := "exited"
	if p.err != nil {
		status = p.err.Error()
	}
	return fmt.Errorf("%s stopped unexpectedly (%s); the end of %s:\n%s", p.opts.Name, status, p.opts.Log, p.Tail(10))
}

// Log is what the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.opts.Log)
	return string(b)
}

// Tail is up to the last n lines of the log.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.opts.Log)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.opts.Log, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// PeakRSS is the process's high-water resident set size in bytes, as the
// kernel counts it from the start of the process.
func (p *Process) PeakRSS() (int64, error) {
	rss, err := ReadPeakRSS(p.Pid())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.opts.Name, err)
	}
	return rss, nil
}

// ReadPeakRSS is the high-water resident set size in bytes of the process
// pid, from VmHWM of /proc/<pid>/status.
func ReadPeakRSS(pid int) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// CPUTime is the CPU time the process has used, in user and system mode,
// as /proc/<pid>/stat counts it in clock ticks (100 a second on Linux).
func (p *Process) CPUTime() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.opts.Name, err)
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from after it. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, fmt.Errorf("%s: malformed /proc stat", p.opts.Name)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: /proc stat: %w", p.opts.Name, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// WaitReady polls url every 50 ms until it answers 200, and fails if the
// process exits or ctx ends first.
func (p *Process) WaitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s answered:\n%s", p.opts.Name, url, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready: %w", p.opts.Name, url, ctx.Err())
		case <-tick.C:
		}
	}
}

// FreeAddrs returns n different loopback host:ports that were free a moment
// ago. They are picked while all n are held, as ports picked one at a time
// and let go may come back twice.
func FreeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		out[i] = l.Addr().String()
	}
	return out, nil
}
