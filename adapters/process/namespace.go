package process

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/internal/nswrap"
)

// PossibleCPUsPath is the file a process loader sees replaced when a
// LoadRequest carries PossibleCPUsFile.
const PossibleCPUsPath = nswrap.PossibleCPUsPath

// Every adapter process runs under a session wrapper (package nswrap): an
// executable started with nswrap's variables set, as PID 1 of a fresh PID
// namespace and in a private mount namespace (the client asks for both with
// Cloneflags). The wrapper mounts a /proc of the new PID namespace (so the
// adapter sees its own processes under their own ids), bind-mounts the
// replacement possible-CPU file when asked to, and runs the adapter as its
// child, forwarding SIGTERM, SIGINT and SIGHUP to it and reaping everything.
// When the adapter exits the wrapper exits with its status, and the kernel
// kills whatever is left in the namespace: helpers the adapter started in
// sessions of their own (setsid) cannot outlive it. The client sets
// Pdeathsig on the wrapper, so the same holds when conform itself is killed.
// The VM initramfs has no util-linux, hence no unshare(1) or mount(1).
//
// The wrapper executable is nswrap.ExecutableName next to this process's
// executable when there is one (the VM initramfs ships it next to /init:
// under TCG it starts in about half the time of the whole conform binary),
// else this executable itself, re-executed.
//
// When this process raised RLIMIT_MEMLOCK for its own BPF objects
// (bpfsys.RaiseMemlock: the suite, or the in-process reference, on kernels
// before 5.11), the wrapper also sets the limit the process had before
// (nswrap.EnvMemlock, "cur:max") for the adapter: each loader meets the limit a
// user's program would and does whatever its loader does about it. Go cannot
// set a child's rlimit between fork and exec, and lowering our own around the
// fork would race with our own BPF work.

// memlockEnv is the wrapper variable that gives the adapter the
// RLIMIT_MEMLOCK this process had before raising it, or "" when this process
// did not raise it.
func memlockEnv() string {
	lim, raised := bpfsys.MemlockBeforeRaise()
	if !raised {
		return ""
	}
	return nswrap.EnvMemlock + "=" + nswrap.FormatRlimit(lim)
}

// wrapperAvailable is set when this executable calls MaybeRunNamespaceWrapper
// at start, which is what makes re-executing it as the wrapper safe.
var wrapperAvailable atomic.Bool

// MaybeRunNamespaceWrapper turns this process into the session wrapper when
// the process client started it as one, and never returns in that case.
// Otherwise it returns at once and records that this executable can serve
// as the wrapper. Every main package that uses this package, and every
// TestMain of such tests, must call it first thing; without it adapters run
// in a process group only (helpers that leave the group are not reaped) and
// LoadRequest.PossibleCPUsFile is refused.
func MaybeRunNamespaceWrapper() {
	target := nswrap.Target()
	if target == "" {
		wrapperAvailable.Store(true)
		return
	}
	os.Exit(nswrap.Run(target))
}

// wrapperExecutable is the executable that serves as the session wrapper:
// the dedicated one next to this executable when it is there, else this
// executable.
var wrapperExecutable = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	return wrapperNextTo(self), nil
})

// wrapperNextTo is nswrap.ExecutableName in self's directory when that is an
// executable file, else self.
func wrapperNextTo(self string) string {
	dedicated := filepath.Join(filepath.Dir(self), nswrap.ExecutableName)
	if fi, err := os.Stat(dedicated); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return dedicated
	}
	return self
}
