package outdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size bytes on a temporary directory for the
// test (root only).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// TestNeedIsCheckedUpFront (issue 24 item 9): an output that cannot fit is
// refused before any work, saying how much is free and needed; the
// earlier output --force replaces counts as free.
func TestNeedIsCheckedUpFront(t *testing.T) {
	fs := smallFS(t, "1m")
	out := filepath.Join(fs, "out")
	if _, err := Open(out, Options{Command: "conform run", Need: 4 << 20}); err == nil || !strings.Contains(err.Error(), "free") || !strings.Contains(err.Error(), "4.0 MiB") {
		t.Fatalf("Open with 4 MiB needed on a 1 MiB file system = %v, want a refusal saying what is free and needed", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Open left %s behind (%v)", out, err)
	}
	d, err := Open(out, Options{Command: "conform run", Need: 256 << 10})
	if err != nil {
		t.Fatalf("Open with 256 KiB needed on a 1 MiB file system: %v", err)
	}
	os.WriteFile(filepath.Join(out, "results.json"), make([]byte, 700<<10), 0o644)
	d.Close()
	replaceable := func(string, os.DirEntry) string { return "" }
	if _, err := Open(out, Options{Command: "conform run", Force: true, Foreign: replaceable, Need: 512 << 10}); err != nil {
		t.Errorf("Open --force needing 512 KiB where the replaced output holds 700 KiB: %v", err)
	}
}

// TestCheckCreatesNothing: Check refuses what Open would, creating,
// locking and writing nothing, and accepts what Open would take.
func TestCheckCreatesNothing(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	full := filepath.Join(root, "full")
	earlier := filepath.Join(root, "earlier")
	for _, d := range []string{full, earlier} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{file, filepath.Join(full, "notes.txt"), filepath.Join(earlier, "results.json")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ours := func(_ string, e os.DirEntry) string {
		if e.Name() == "results.json" {
			return ""
		}
		return e.Name()
	}
	for _, tc := range []struct {
		name, dir string
		o         Options
		want      string // "" = accepted
	}{
		{"new", filepath.Join(root, "a", "b"), Options{}, ""},
		{"empty", t.TempDir(), Options{}, ""},
		{"earlier output, force", earlier, Options{Force: true, Foreign: ours}, ""},
		{"not empty", full, Options{Command: "conform run"}, "is not empty"},
		{"foreign file, force", full, Options{Force: true, Foreign: ours, Command: "conform run"}, "notes.txt is not output of conform run"},
		{"a file", file, Options{}, "--out " + file},
		{"under a file", filepath.Join(file, "x"), Options{}, "not a directory"},
		{"an input", earlier, Options{Force: true, Foreign: ours, Inputs: []string{filepath.Join(earlier, "results.json")}}, "holds an input"},
	} {
		before, _ := os.ReadDir(root)
		err := Check(tc.dir, tc.o)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.want)
		}
		if after, _ := os.ReadDir(root); len(after) != len(before) {
			t.Errorf("%s: Check changed %s", tc.name, root)
		}
	}
}
