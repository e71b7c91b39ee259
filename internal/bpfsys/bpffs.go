package bpfsys

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// BPFFSRoot is the conventional bpffs mount, where perfconform pins.
const BPFFSRoot = "/sys/fs/bpf"

// ErrNotBPFFS: a directory that should hold pins is not on a bpffs mount.
var ErrNotBPFFS = errors.New("not a bpffs mount")

// CheckBPFFS returns nil when dir is on a bpffs mount, so maps can be pinned
// under it; otherwise an error naming dir and how to mount one (wrapping
// ErrNotBPFFS, or statfs's error when dir cannot be looked at).
func CheckBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("bpffs: %s: %w (mount it with: mount -t bpf bpf %s)", dir, err, BPFFSRoot)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("%s is %w (mount it with: mount -t bpf bpf %s)", dir, ErrNotBPFFS, BPFFSRoot)
	}
	return nil
}
