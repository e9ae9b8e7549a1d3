package shipper

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/oklog/ulid/v2"
)

// DefaultMetaFileName is the name of the shipper's meta file in the TSDB
// directory, Thanos's default.
const DefaultMetaFileName = "thanos.shipper.json"

// state is the shipper's meta file, in Thanos's format: the blocks on local
// disk that are in the bucket. It lets a restart skip asking the bucket
// about every block, and Prometheus, given it with
// --storage.tsdb.delay-compact-file.path, compacts only blocks listed here.
type state struct {
	Version  int         `json:"version"`
	Uploaded []ulid.ULID `json:"uploaded"`
}

const stateVersion = 1

// readState reads the meta file at path.
func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: unexpected version %d", path, s.Version)
	}
	return &s, nil
}

// writeState replaces the meta file at path: it is written beside it,
// synced and renamed over it, so that a crash leaves the old file or the
// new one, never half of one.
func writeState(path string, s *state) error {
	s.Version = stateVersion
	if s.Uploaded == nil {
		s.Uploaded = []ulid.ULID{}
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
