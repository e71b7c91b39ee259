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
