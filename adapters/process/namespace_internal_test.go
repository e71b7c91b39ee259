package process

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// The wrapper gives the adapter the RLIMIT_MEMLOCK it is told (the limit this
// process had before raising it): /bin/cat, started through this test binary
// as the wrapper (TestMain calls MaybeRunNamespaceWrapper), prints its own
// limits.
func TestWrapperSetsMemlock(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the session wrapper needs root (PID and mount namespaces)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var ours unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &ours); err != nil {
		t.Fatal(err)
	}
	// Lowering is always allowed; keep the hard limit at or below ours.
	want := unix.Rlimit{Cur: 64 << 10, Max: min(ours.Max, 1<<20)}
	if ours.Cur < want.Cur {
		want.Cur = ours.Cur
	}
	cmd := exec.Command(self, "/proc/self/limits")
	cmd.Args[0] = "/bin/cat"
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	cmd.Env = append(os.Environ(), envWrapExec+"=/bin/cat", envWrapMemlock+"="+formatRlimit(want))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Max locked memory\s+(\S+)\s+(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no locked memory line in\n%s", out)
	}
	if got := string(m[1]) + ":" + string(m[2]); got != formatRlimit(want) {
		t.Errorf("adapter's RLIMIT_MEMLOCK %s, want %s", got, formatRlimit(want))
	}

	// A malformed limit stops the wrapper with its own status, not an exec.
	bad := exec.Command(self)
	bad.Args[0] = "/bin/cat"
	bad.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	bad.Env = append(os.Environ(), envWrapExec+"=/bin/cat", envWrapMemlock+"=lots")
	var ee *exec.ExitError
	if err := bad.Run(); !errors.As(err, &ee) || ee.ExitCode() != wrapExitMemlock {
		t.Errorf("malformed limit: %v, want exit status %d", err, wrapExitMemlock)
	}
}

// Without a raise (this kernel charges the memory cgroup, or nothing raised
// the limit) adapters get no memlock variable: they inherit ours, which is
// the one we started with.
func TestNoMemlockVariableWithoutRaise(t *testing.T) {
	if _, raised := bpfsys.MemlockBeforeRaise(); raised {
		t.Skip("this process raised RLIMIT_MEMLOCK")
	}
	if env := memlockEnv(); env != "" {
		t.Errorf("memlockEnv() = %q, want none", env)
	}
}
