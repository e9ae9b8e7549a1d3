package main

import (
	"fmt"
	"os"

	"github.com/tandem-metrics/tandem/internal/serve"
	"github.com/tandem-metrics/tandem/pkg/reloader"
)

// pathOrContent is a YAML config given inline (--name) or as a file
// (--name-file), as Thanos takes its object store, tracing and HTTP client
// configs.
type pathOrContent struct {
	name     string
	content  string
	path     string
	envsubst bool
}

// registerPathOrContent declares --name and --name-file. With envsubst,
// every $(VAR) in the config is replaced by the environment variable VAR, as
// Thanos does for the configs that hold secrets.
func registerPathOrContent(cmd serve.FlagClause, name, help string, envsubst bool) *pathOrContent {
	p := &pathOrContent{name: name, envsubst: envsubst}
	cmd.Flag(name, "Alternative to --"+name+"-file: "+help).PlaceHolder("<content>").StringVar(&p.content)
	cmd.Flag(name+"-file", "Path to "+help).PlaceHolder("<file-path>").StringVar(&p.path)
	return p
}

// flag names the flag that was given, for errors.
func (p *pathOrContent) flag() string {
	if p.path != "" {
		return "--" + p.name + "-file"
	}
	return "--" + p.name
}

// read returns the config, empty when neither flag was given.
func (p *pathOrContent) read() ([]byte, error) {
	if p.content != "" && p.path != "" {
		return nil, fmt.Errorf("--%s and --%s-file: give one, not both", p.name, p.name)
	}
	b := []byte(p.content)
	if p.path != "" {
		var err error
		if b, err = os.ReadFile(p.path); err != nil {
			return nil, fmt.Errorf("--%s-file: %w", p.name, err)
		}
	}
	if p.envsubst {
		var err error
		if b, err = reloader.Expand(b, os.LookupEnv); err != nil {
			return nil, fmt.Errorf("%s: %w", p.flag(), err)
		}
	}
	return b, nil
}
