// Package bccvm is the guest half of the bcc adapter in VMs. bcc needs
// Python, libbcc with LLVM and kernel headers at run time, far too much for
// an initramfs, so package adapters puts them in a read-only ext4 image that
// every bcc VM gets as a virtio-blk disk (vmtest.Disk), mounted by the guest
// at Mount; the adapter's executable in the VM is a small static program
// (adapters/bcc/vm) that calls Exec to enter that image.
//
// It imports only the standard library and x/sys/unix: it starts once per
// load under TCG, like the session wrapper (internal/nswrap).
package bccvm

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

const (
	// Mount is where the guest mounts the image.
	Mount = "/perfconform/disks/bcc"
	// Launcher is the launcher script inside the image: the same script the
	// host build writes, with the image's paths.
	Launcher = "/perfconform-bcc"
	// AdapterDir is where the image holds adapters/bcc (adapter.py and its
	// fixtures).
	AdapterDir = "/perfconform/bcc"
)

// BindDirs are the guest's trees the adapter must see inside the image, at
// the same paths: /proc (the session wrapper's own, for its PID namespace),
// /sys with what is mounted under it (bpffs for the pins, cgroups, and the
// possible-CPU file the topology or the session wrapper bound over the
// kernel's: recursive binds carry them), /dev, /tmp (the suite's fixtures
// and pin directories) and /run. The image has an empty directory for each.
var BindDirs = []string{"/proc", "/sys", "/dev", "/tmp", "/run"}

// Exec enters the image mounted at root and execs Launcher with args. In a
// mount namespace of its own (the binds must not pile up in the guest's),
// it binds BindDirs into root, chroots there and execs; it returns only on
// failure, saying which step failed.
func Exec(root string, args []string) error {
	// unshare and chroot change the calling thread's mount namespace and
	// root, which exec then takes: all on one thread.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, Launcher)); err != nil {
		return fmt.Errorf("bcc image not mounted at %s: %w", root, err)
	}
	for _, d := range BindDirs {
		if err := unix.Mount(d, filepath.Join(root, d), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s into %s: %w", d, root, err)
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir / in %s: %w", root, err)
	}
	if err := unix.Exec(Launcher, append([]string{Launcher}, args...), os.Environ()); err != nil {
		return fmt.Errorf("exec %s in %s: %w", Launcher, root, err)
	}
	return nil
}
