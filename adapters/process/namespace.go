package process

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// PossibleCPUsPath is the file a process loader sees replaced when a
// LoadRequest carries PossibleCPUsFile.
const PossibleCPUsPath = "/sys/devices/system/cpu/possible"

// Every adapter process runs under a session wrapper: the current executable
// re-executed with these variables set, as PID 1 of a fresh PID namespace
// and in a private mount namespace (the client asks for both with
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
// When this process raised RLIMIT_MEMLOCK for its own BPF objects
// (bpfsys.RaiseMemlock: the suite, or the in-process reference, on kernels
// before 5.11), the wrapper also sets the limit the process had before
// (envWrapMemlock, "cur:max") for the adapter: each loader meets the limit a
// user's program would and does whatever its loader does about it. Go cannot
// set a child's rlimit between fork and exec, and lowering our own around the
// fork would race with our own BPF work.
const (
	envWrapExec     = "PERFCONFORM_NSWRAP_EXEC"
	envWrapPossible = "PERFCONFORM_NSWRAP_POSSIBLE"
	envWrapMemlock  = "PERFCONFORM_NSWRAP_MEMLOCK"
)

// Exit statuses of a wrapper that could not set up the adapter.
const (
	wrapExitMemlock = 124
	wrapExitMount   = 125
	wrapExitExec    = 126
)

// memlockEnv is the wrapper variable that gives the adapter the
// RLIMIT_MEMLOCK this process had before raising it, or "" when this process
// did not raise it.
func memlockEnv() string {
	lim, raised := bpfsys.MemlockBeforeRaise()
	if !raised {
		return ""
	}
	return envWrapMemlock + "=" + formatRlimit(lim)
}

func formatRlimit(r unix.Rlimit) string {
	return strconv.FormatUint(r.Cur, 10) + ":" + strconv.FormatUint(r.Max, 10)
}

func parseRlimit(s string) (unix.Rlimit, error) {
	cur, max, ok := strings.Cut(s, ":")
	if !ok {
		return unix.Rlimit{}, fmt.Errorf("rlimit %q: want cur:max", s)
	}
	c, err := strconv.ParseUint(cur, 10, 64)
	if err != nil {
		return unix.Rlimit{}, fmt.Errorf("rlimit %q: %w", s, err)
	}
	m, err := strconv.ParseUint(max, 10, 64)
	if err != nil {
		return unix.Rlimit{}, fmt.Errorf("rlimit %q: %w", s, err)
	}
	return unix.Rlimit{Cur: c, Max: m}, nil
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
	target := os.Getenv(envWrapExec)
	if target == "" {
		wrapperAvailable.Store(true)
		return
	}
	os.Exit(runWrapper(target, os.Getenv(envWrapPossible), os.Getenv(envWrapMemlock)))
}

func runWrapper(target, possible, memlock string) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "perfconform session wrapper: "+format+"\n", args...)
		return code
	}
	if memlock != "" {
		// Set in the wrapper, inherited by the adapter; the wrapper
		// itself creates no BPF object.
		lim, err := parseRlimit(memlock)
		if err == nil {
			err = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim)
		}
		if err != nil {
			return fail(wrapExitMemlock, "set RLIMIT_MEMLOCK to %s: %v", memlock, err)
		}
	}
	// Forward the stop signals from the start: as PID 1 of its namespace
	// the wrapper would otherwise ignore them.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(wrapExitMount, "make / private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail(wrapExitMount, "mount /proc for the adapter's PID namespace: %v", err)
	}
	if possible != "" {
		if err := unix.Mount(possible, PossibleCPUsPath, "", unix.MS_BIND, ""); err != nil {
			return fail(wrapExitMount, "bind-mount %s over %s: %v", possible, PossibleCPUsPath, err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, envWrapExec+"=") || strings.HasPrefix(kv, envWrapPossible+"=") || strings.HasPrefix(kv, envWrapMemlock+"=")
	})
	adapter, err := os.StartProcess(target, os.Args, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return fail(wrapExitExec, "start %s: %v", target, err)
	}
	go func() {
		for sig := range sigs {
			adapter.Signal(sig)
		}
	}()
	// Reap every process that ends in the namespace (orphans are ours as
	// its PID 1) until the adapter itself has ended.
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fail(wrapExitExec, "wait for %s: %v", target, err)
		}
		if pid != adapter.Pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			fmt.Fprintf(os.Stderr, "perfconform session wrapper: adapter killed by signal %v\n", ws.Signal())
			return 128 + int(ws.Signal())
		}
	}
}
