package reloader

import (
	"errors"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{
		"POD_NAME": "prometheus-1",
		"CLUSTER":  "eu-1",
		"EMPTY":    "",
		"lower_1":  "x",
	}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }

	for _, tc := range []struct {
		name, in, want string
		unset          string // name the error must carry; "" for no error
	}{
		{name: "one reference", in: "replica: $(POD_NAME)", want: "replica: prometheus-1"},
		{name: "several references", in: "$(CLUSTER)/$(POD_NAME)/$(CLUSTER)", want: "eu-1/prometheus-1/eu-1"},
		{name: "set but empty is not unset", in: "a: '$(EMPTY)'", want: "a: ''"},
		{name: "lower case, digits and underscore", in: "$(lower_1)", want: "x"},
		{name: "no reference", in: "global: {}\n", want: "global: {}\n"},
		// Only the Kubernetes form is a reference: relabel replacements and
		// shell-style variables stay as they are.
		{name: "dollar group reference untouched", in: "replacement: $1", want: "replacement: $1"},
		{name: "braced form untouched", in: "${POD_NAME} $POD_NAME", want: "${POD_NAME} $POD_NAME"},
		{name: "invalid name untouched", in: "$(POD-NAME) $() $(A B)", want: "$(POD-NAME) $() $(A B)"},
		// Thanos has no escape; neither do we, so templates behave the same.
		{name: "double dollar is not an escape", in: "$$(POD_NAME)", want: "$prometheus-1"},
		{name: "unset variable", in: "replica: $(POD_NAME)\nshard: $(SHARD)", unset: "SHARD"},
		{name: "first unset variable wins", in: "$(NOPE_A) $(NOPE_B)", unset: "NOPE_A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand([]byte(tc.in), lookup)
			if tc.unset != "" {
				var uerr *UnsetVariableError
				if !errors.As(err, &uerr) {
					t.Fatalf("Expand(%q) error = %v, want *UnsetVariableError", tc.in, err)
				}
				if uerr.Name != tc.unset {
					t.Fatalf("unset variable = %q, want %q (error: %v)", uerr.Name, tc.unset, err)
				}
				if got != nil {
					t.Fatalf("Expand returned output %q along with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.in, err)
			}
			if string(got) != tc.want {
				t.Fatalf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestUnsetVariableErrorNamesTheVariable(t *testing.T) {
	_, err := Expand([]byte("$(POD_NAME)"), func(string) (string, bool) { return "", false })
	if err == nil || err.Error() != `environment variable "POD_NAME" is referenced as $(POD_NAME) but not set` {
		t.Fatalf("error = %v", err)
	}
}
