package reloader

import (
	"fmt"
	"regexp"
)

// envRef matches a Kubernetes-style reference, $(NAME). Only this form is
// substituted, as in Thanos: $NAME and ${NAME} are common in Prometheus
// configs (relabel replacements such as "$1", alert templates) and must pass
// through untouched. Like Thanos there is no escape: "$$(NAME)" is a literal
// "$" followed by the substituted value.
var envRef = regexp.MustCompile(`\$\(([a-zA-Z_0-9]+)\)`)

// UnsetVariableError is returned by Expand for a reference to a variable that
// is not set. Substituting an empty string instead would hand Prometheus a
// config that loads but is wrong, e.g. two replicas with the same empty
// replica label, which can then not be deduplicated.
type UnsetVariableError struct {
	Name string
}

func (e *UnsetVariableError) Error() string {
	return fmt.Sprintf("environment variable %q is referenced as $(%s) but not set", e.Name, e.Name)
}

// Expand replaces every $(NAME) in b with the value lookup returns for NAME.
// The first unset variable stops the expansion with an *UnsetVariableError.
func Expand(b []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var err error
	out := envRef.ReplaceAllFunc(b, func(ref []byte) []byte {
		if err != nil {
			return nil
		}
		name := string(ref[2 : len(ref)-1])
		v, ok := lookup(name)
		if !ok {
			err = &UnsetVariableError{Name: name}
			return nil
		}
		return []byte(v)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
