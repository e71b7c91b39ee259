package nswrap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// EnvAccount, when set, is the user id the adapter runs as, keeping every
// capability root has: its own locked-memory account. Kernels before 5.11
// charge BPF maps and programs to the RLIMIT_MEMLOCK of the user that
// creates them (user_struct.locked_vm, the real uid's), so adapters
// running side by side as root would draw on one account, and one
// loader's maps could make another's creation fail where a serial run
// would not. With an account of its own each adapter meets exactly the
// limit it would meet alone.
const EnvAccount = "PERFCONFORM_NSWRAP_ACCOUNT"

// accountBase is the first user id handed out: far above the ids a
// distribution gives users and services, none of which exist in a guest.
const accountBase = 200000

var accounts atomic.Uint32

// NextAccount returns a user id no adapter of this process had before.
func NextAccount() int { return accountBase + int(accounts.Add(1)%(1<<20)) }

// SeparateAccounts reports whether adapters can be given accounts of their
// own: the caller is root (setresuid, and raising the ambient
// capabilities, need CAP_SETUID and CAP_SETPCAP).
func SeparateAccounts() bool { return os.Geteuid() == 0 }

// becomeAccount makes the calling thread (the one that forks the adapter;
// Run locks it; unix.Setresuid changes that thread only) user uid in its real, effective and saved ids, keeping all of
// root's capabilities for the adapter it execs: PR_SET_KEEPCAPS keeps the
// permitted set across the uid change, capset restores the effective set
// and fills the inheritable one, and every capability is raised in the
// ambient set, which is what an exec by a non-root user without file
// capabilities keeps. Real and effective ids stay equal, so the exec is not
// a secure-execution one (AT_SECURE): the dynamic loader and glibc keep the
// environment (LD_LIBRARY_PATH, TMPDIR) as for root. Files the adapter
// creates belong to uid; CAP_DAC_OVERRIDE lets it write where root can.
func becomeAccount(uid int) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_KEEPCAPS: %w", err)
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		data[i].Effective = data[i].Permitted
		data[i].Inheritable = data[i].Permitted
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if data[c/32].Permitted&(1<<(c%32)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	return nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("capabilities: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("capabilities: cap_last_cap %q", b)
	}
	return n, nil
}
