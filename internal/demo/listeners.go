package demo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// listener is one address a component will listen on.
type listener struct {
	addr, component string
}

func (c Config) listeners() []listener {
	var ls []listener
	for r, name := range replicaNames {
		ls = append(ls, listener{c.Prometheus[r], "prometheus-" + name + " (web)"})
	}
	for r, name := range replicaNames {
		ls = append(ls,
			listener{c.SidecarGRPC[r], "sidecar-" + name + " (gRPC)"},
			listener{c.SidecarHTTP[r], "sidecar-" + name + " (HTTP)"})
	}
	return append(ls, listener{c.QueryHTTP, "query (HTTP)"}, listener{c.QueryGRPC, "query (gRPC)"})
}

// checkListeners makes sure every address is distinct and free now, so
// that a busy port is reported in one line before anything starts, rather
// than as one child dying among the others' logs.
func checkListeners(ls []listener) error {
	seen := map[string]string{}
	for _, l := range ls {
		if other, ok := seen[l.addr]; ok {
			return fmt.Errorf("%s and %s are both set to listen on %s", other, l.component, l.addr)
		}
		seen[l.addr] = l.component
	}
	for _, l := range ls {
		lis, err := net.Listen("tcp", l.addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port %s is already in use: %s needs it (stop what holds it, or pick another address; see --help)", l.addr, l.component)
		}
		if err != nil {
			return fmt.Errorf("%s cannot listen on %s: %w", l.component, l.addr, err)
		}
		if err := lis.Close(); err != nil {
			return fmt.Errorf("%s: %w", l.addr, err)
		}
	}
	return nil
}

// findBinaries returns the paths of the named binaries in dir, or an error
// that says how to build them.
func findBinaries(dir string, names ...string) (map[string]string, error) {
	paths := map[string]string{}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s not found: run `make tools build` first (%w)", p, err)
		}
		paths[n] = p
	}
	return paths, nil
}
