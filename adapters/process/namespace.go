package process

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// PossibleCPUsPath is the file a process loader sees replaced when a
// LoadRequest carries PossibleCPUsFile.
const PossibleCPUsPath = "/sys/devices/system/cpu/possible"

// The namespace wrapper is the current executable re-executed with these
// variables set. It runs in the fresh mount namespace the client asked the
// kernel for (Unshareflags CLONE_NEWNS; Go makes / private in it), bind-mounts
// the replacement file and execs the adapter. The VM initramfs has no
// util-linux, hence no unshare(1) or mount(1).
const (
	envWrapExec     = "PERFCONFORM_NSWRAP_EXEC"
	envWrapPossible = "PERFCONFORM_NSWRAP_POSSIBLE"
)

// Exit statuses of a wrapper that could not set up the adapter.
const (
	wrapExitMount = 125
	wrapExitExec  = 126
)

// MaybeRunNamespaceWrapper turns this process into the namespace wrapper when
// the process client started it as one, and never returns in that case.
// Otherwise it returns at once. Every main package that uses this package
// with LoadRequest.PossibleCPUsFile, and every TestMain of such tests, must
// call it first thing.
func MaybeRunNamespaceWrapper() {
	target := os.Getenv(envWrapExec)
	if target == "" {
		return
	}
	possible := os.Getenv(envWrapPossible)
	if err := unix.Mount(possible, PossibleCPUsPath, "", unix.MS_BIND, ""); err != nil {
		fmt.Fprintf(os.Stderr, "perfconform namespace wrapper: bind-mount %s over %s: %v\n", possible, PossibleCPUsPath, err)
		os.Exit(wrapExitMount)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, envWrapExec+"=") || strings.HasPrefix(kv, envWrapPossible+"=")
	})
	err := unix.Exec(target, os.Args, env)
	fmt.Fprintf(os.Stderr, "perfconform namespace wrapper: exec %s: %v\n", target, err)
	os.Exit(wrapExitExec)
}
