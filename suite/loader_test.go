package suite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/suite"
)

// TestJudgeEnvironment: a refusal at stage "environment" is honoured (no
// verdict) only while the loader has not touched the object: once it pinned
// a map under the pin directory (a new name, or a pin replaced), it is a
// failure at load. Pins the directory held before the load (a foreign pin,
// the first load's pins on a reload) do not count. Plain files stand in for
// pins: only names and inodes matter.
func TestJudgeEnvironment(t *testing.T) {
	env := &suite.LoadError{Stage: protocol.StageEnvironment, Err: errors.New("error setting rlimit: operation not permitted")}
	load := &suite.LoadError{Stage: protocol.StageLoad, Err: errors.New("map events: invalid argument")}
	pin := func(dir, name string) {
		t.Helper()
		// Written elsewhere and renamed in: a new inode even where the name
		// was taken.
		tmp := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(tmp, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name        string
		err         error
		before      []string // pinned before the load
		during      []string // pinned (or replaced) by the loader
		wantStage   protocol.Stage
		wantTouched bool
	}{
		{"environment, nothing pinned", env, nil, nil, protocol.StageEnvironment, false},
		{"environment after pinning", env, nil, []string{"events"}, protocol.StageLoad, true},
		{"environment next to a foreign pin", env, []string{"events"}, nil, protocol.StageEnvironment, false},
		{"environment after replacing a pin", env, []string{"events"}, []string{"events"}, protocol.StageLoad, true},
		{"environment after pinning beside a foreign pin", env, []string{"events"}, []string{"counts"}, protocol.StageLoad, true},
		{"load failure after pinning", load, nil, []string{"events"}, protocol.StageLoad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tc.before {
				pin(dir, name)
			}
			before := suite.PinsIn(dir)
			for _, name := range tc.during {
				pin(dir, name)
			}
			got := suite.JudgeEnvironment(tc.err, dir, before)
			le := suite.AsLoadError(got)
			if le == nil || le.Stage != tc.wantStage {
				t.Fatalf("JudgeEnvironment = %v, want a LoadError at stage %s", got, tc.wantStage)
			}
			if touched := errors.Is(got, suite.ErrEnvironmentAfterPin); touched != tc.wantTouched {
				t.Errorf("JudgeEnvironment = %v: wraps ErrEnvironmentAfterPin %v, want %v", got, touched, tc.wantTouched)
			}
			if !strings.Contains(got.Error(), suite.AsLoadError(tc.err).Err.Error()) {
				t.Errorf("JudgeEnvironment = %v: the loader's own message is lost", got)
			}
		})
	}
	other := errors.New("adapter crashed")
	if got := suite.JudgeEnvironment(other, t.TempDir(), nil); got != other {
		t.Errorf("JudgeEnvironment(%v) = %v, want it unchanged", other, got)
	}
	if got := suite.JudgeEnvironment(nil, t.TempDir(), nil); got != nil {
		t.Errorf("JudgeEnvironment(nil) = %v", got)
	}
}
