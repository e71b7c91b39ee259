package bpfsys

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Locked memory. Before Linux 5.11 the kernel charges every BPF map and
// program to the creating user's locked memory and refuses (EPERM) what would
// exceed the creating process's RLIMIT_MEMLOCK. The kernel's default limit
// there is 64 KiB, a few maps' worth, and the count is shared by every process
// of the user (perf ring buffers add to it too).
// From 5.11 BPF memory is charged to the memory cgroup and RLIMIT_MEMLOCK
// plays no part. A loader on an older kernel must raise the limit itself, and
// should not touch it on a newer one.

// ErrMemlock is wrapped when RLIMIT_MEMLOCK cannot be raised.
var ErrMemlock = errors.New("raise RLIMIT_MEMLOCK")

const (
	cmdProgLoad            = 5   // BPF_PROG_LOAD
	progTypeSocketFilter   = 1   // BPF_PROG_TYPE_SOCKET_FILTER
	helperKtimeGetCoarseNs = 160 // BPF_FUNC_ktime_get_coarse_ns, Linux 5.11
)

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// expected_attach_type (every field the probe needs, known to every kernel the
// suite supports).
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// insn is struct bpf_insn.
type insn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

var memlock struct {
	probe   sync.Once
	charged bool

	mu     sync.Mutex
	raised bool
	before unix.Rlimit // the limit RaiseMemlock replaced
}

// MemlockCharged reports whether the running kernel charges BPF maps and
// programs to RLIMIT_MEMLOCK (before Linux 5.11) rather than to the memory
// cgroup. The two changes cannot be observed directly without touching the
// process's limit, so, as libbpf does, the probe (run once per process) asks
// for something merged in the same release: it loads a socket filter that
// calls bpf_ktime_get_coarse_ns (5.11). Accepted: memory cgroup accounting.
// Refused for any reason (unknown helper; EPERM because the limit is already
// used up): charged, since raising the limit is then what helps.
func MemlockCharged() bool {
	memlock.probe.Do(func() { memlock.charged = !loadsCoarseClockProbe() })
	return memlock.charged
}

func loadsCoarseClockProbe() bool {
	insns := []insn{
		{code: unix.BPF_JMP | unix.BPF_CALL, imm: helperKtimeGetCoarseNs},
		{code: unix.BPF_JMP | unix.BPF_EXIT},
	}
	license := []byte("GPL\x00")
	attr := progLoadAttr{
		progType: progTypeSocketFilter,
		insnCnt:  uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmdProgLoad, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	runtime.KeepAlive(&attr)
	if errno != 0 {
		return false
	}
	unix.Close(int(fd))
	return true
}

// RaiseMemlock lifts RLIMIT_MEMLOCK to unlimited when MemlockCharged, and does
// nothing otherwise. It is what libbpf does before its first map or program
// and what cilium/ebpf's rlimit.RemoveMemlock does: raise once, for the whole
// process, and never lower it again (another goroutine may rely on it). If
// the hard limit cannot be lifted (no CAP_SYS_RESOURCE), the soft limit is
// raised to the hard one. The limit it replaced is kept for
// MemlockBeforeRaise.
func RaiseMemlock() error {
	if !MemlockCharged() {
		return nil
	}
	memlock.mu.Lock()
	defer memlock.mu.Unlock()
	if memlock.raised {
		return nil
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &old); err != nil {
		return fmt.Errorf("%w: getrlimit: %w", ErrMemlock, err)
	}
	infinite := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &infinite); err != nil {
		toHard := unix.Rlimit{Cur: old.Max, Max: old.Max}
		if err2 := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &toHard); err2 != nil {
			return fmt.Errorf("%w (the kernel charges BPF memory to it before Linux 5.11): to unlimited: %w; to the hard limit %d: %w",
				ErrMemlock, err, old.Max, err2)
		}
	}
	memlock.raised, memlock.before = true, old
	return nil
}

// MemlockBeforeRaise returns the RLIMIT_MEMLOCK this process had before
// RaiseMemlock changed it, and false if RaiseMemlock has not changed it. The
// suite starts adapter processes with that limit, so that each loader meets
// the limit a user's program would, not the one the suite raised for itself.
func MemlockBeforeRaise() (unix.Rlimit, bool) {
	memlock.mu.Lock()
	defer memlock.mu.Unlock()
	return memlock.before, memlock.raised
}
