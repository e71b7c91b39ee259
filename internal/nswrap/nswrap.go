// Package nswrap is the session wrapper every process adapter runs under (see
// package process): PID 1 of a fresh PID namespace in a private mount
// namespace that mounts a /proc of its own, substitutes the possible-CPU file
// when asked, gives the adapter the RLIMIT_MEMLOCK it is told, forwards stop
// signals and exits with the adapter's status. It imports nothing but the
// standard library and x/sys/unix, so that cmd/perfconform-nswrap, the
// dedicated wrapper executable, starts quickly: under TCG, re-executing the
// whole conform binary as the wrapper costs about twice as much (package
// initialisation of everything conform links in).
package nswrap

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecutableName is the dedicated wrapper executable: the process client uses
// it when it lies next to its own executable (the VM initramfs puts it next
// to /init), else it re-executes itself as the wrapper.
const ExecutableName = "perfconform-nswrap"

// PossibleCPUsPath is the file a process loader sees replaced when a
// LoadRequest carries PossibleCPUsFile.
const PossibleCPUsPath = "/sys/devices/system/cpu/possible"

// The variables that make a process the wrapper: the adapter to run, the
// possible-CPU file to bind-mount over PossibleCPUsPath (or ""), and the
// RLIMIT_MEMLOCK to set for the adapter ("cur:max", or "").
const (
	EnvExec     = "PERFCONFORM_NSWRAP_EXEC"
	EnvPossible = "PERFCONFORM_NSWRAP_POSSIBLE"
	EnvMemlock  = "PERFCONFORM_NSWRAP_MEMLOCK"
)

// Exit statuses of a wrapper that could not set up the adapter.
const (
	ExitMemlock = 124
	ExitMount   = 125
	ExitExec    = 126
)

// FormatRlimit renders r as EnvMemlock wants it.
func FormatRlimit(r unix.Rlimit) string {
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

// Target is the adapter this process was started to wrap (EnvExec), or ""
// when it was not started as the wrapper.
func Target() string { return os.Getenv(EnvExec) }

// Main runs this process as the wrapper of Target() and exits with the
// adapter's status; it is the whole of cmd/perfconform-nswrap.
func Main() {
	target := Target()
	if target == "" {
		fmt.Fprintf(os.Stderr, "%s: %s is not set: this is the session wrapper that package process starts for each adapter, not a command\n", ExecutableName, EnvExec)
		os.Exit(2)
	}
	os.Exit(Run(target))
}

// Run wraps target as described in the package comment, with the possible-CPU
// file and memlock limit from the environment, and returns the exit status.
func Run(target string) int {
	possible, memlock := os.Getenv(EnvPossible), os.Getenv(EnvMemlock)
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
			return fail(ExitMemlock, "set RLIMIT_MEMLOCK to %s: %v", memlock, err)
		}
	}
	// Forward the stop signals from the start: as PID 1 of its namespace
	// the wrapper would otherwise ignore them.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail(ExitMount, "make / private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fail(ExitMount, "mount /proc for the adapter's PID namespace: %v", err)
	}
	if possible != "" {
		if err := unix.Mount(possible, PossibleCPUsPath, "", unix.MS_BIND, ""); err != nil {
			return fail(ExitMount, "bind-mount %s over %s: %v", possible, PossibleCPUsPath, err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, EnvExec+"=") || strings.HasPrefix(kv, EnvPossible+"=") || strings.HasPrefix(kv, EnvMemlock+"=")
	})
	adapter, err := os.StartProcess(target, os.Args, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return fail(ExitExec, "start %s: %v", target, err)
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
			return fail(ExitExec, "wait for %s: %v", target, err)
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
