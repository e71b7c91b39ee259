package bpfsys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// TestCheckBPFFS: a directory on another file system is ErrNotBPFFS, a
// missing one says so, and both say how to mount a bpffs.
func TestCheckBPFFS(t *testing.T) {
	if err := bpfsys.CheckBPFFS(t.TempDir()); !errors.Is(err, bpfsys.ErrNotBPFFS) || !strings.Contains(err.Error(), "mount -t bpf") {
		t.Errorf("CheckBPFFS(temp dir) = %v, want ErrNotBPFFS with the mount command", err)
	}
	if err := bpfsys.CheckBPFFS("/nonexistent/perfconform"); err == nil || errors.Is(err, bpfsys.ErrNotBPFFS) || !strings.Contains(err.Error(), "/nonexistent/perfconform") {
		t.Errorf("CheckBPFFS(missing dir) = %v, want the statfs error naming the dir", err)
	}
}
