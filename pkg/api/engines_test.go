package api_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAPIWithThanosEngine runs this package's tests again with Thanos's
// engine behind the API: answers, error types, limits, timeouts,
// concurrency and the rule that a query is closed only once its answer is
// written must not depend on the engine.
func TestAPIWithThanosEngine(t *testing.T) {
	if *engineFlag != "prometheus" {
		t.Skip("already running with -engine=" + *engineFlag)
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	args := []string{"-test.run=^TestAPI", "-test.count=1", "-engine=thanos"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with -engine=thanos: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("with -engine=thanos, no PASS:\n%s", out)
	}
	t.Logf("with -engine=thanos:\n%s", out)
}
