package arch_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/perfconform/perfconform/vmtest/arch"
)

func TestGet(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"amd64", "amd64", nil},
		{"arm64", "arm64", nil},
		{"", runtime.GOARCH, nil},
		{"riscv64", "", arch.ErrUnknown},
	} {
		a, err := arch.Get(tc.name)
		if !errors.Is(err, tc.err) || a.Name != tc.want {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.name, a.Name, err, tc.want, tc.err)
		}
	}
	for _, a := range arch.All() {
		if a.Triplet == "" || a.Console == "" || a.EventDevice == "" || a.Machine == 0 {
			t.Errorf("%s: incomplete %+v", a.Name, a)
		}
	}
}

func TestOfELF(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if a, err := arch.OfELF(exe); err != nil || a.Name != runtime.GOARCH || !a.IsHost() {
		t.Errorf("test binary: %v, %v; want %s", a, err, runtime.GOARCH)
	}
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := arch.OfELF(notELF); err == nil {
		t.Error("a script has no architecture")
	}
}
