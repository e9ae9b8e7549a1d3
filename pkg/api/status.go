package api

import (
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/common/version"
)

// buildInfo has Prometheus's shape (no "features": Prometheus 3 has none).
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

func (a *API) buildInfo(*http.Request) result {
	return result{data: buildInfo{
		Version:   version.Version,
		Revision:  version.GetRevision(),
		Branch:    version.Branch,
		BuildUser: version.BuildUser,
		BuildDate: version.BuildDate,
		GoVersion: version.GoVersion,
	}}
}

func (a *API) flags(*http.Request) result {
	flags := a.opts.Flags
	if flags == nil {
		flags = map[string]string{}
	}
	return result{data: flags}
}

// runtimeInfo has Prometheus's shape; what a stateless query has no notion
// of (config reloads, TSDB corruption, retention) stays at its zero value.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func (a *API) runtimeInfo(*http.Request) result {
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	return result{data: runtimeInfo{
		StartTime:           a.startTime,
		CWD:                 cwd,
		Hostname:            host,
		ServerTime:          a.opts.Now().UTC(),
		ReloadConfigSuccess: true,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
	}}
}
