// Package nswrap is the session wrapper every process adapter runs under (see
// package process): PID 1 of a fresh PID namespace in a private mount
// namespace that mounts a /proc of its own, substitutes the possible-CPU file
// when asked, gives the adapter the RLIMIT_MEMLOCK it is told (and, where the
// kernel charges that limit per user, a user of its own: account.go), restricts it
// to some CPUs when asked (a cgroup's cpuset and its affinity, as Kubernetes'
// static CPU manager does), forwards stop signals and exits with the
// adapter's status. It imports nothing but the standard library and
// x/sys/unix, so that cmd/perfconform-nswrap, the
// dedicated wrapper executable, starts quickly: under TCG, re-executing the
// whole conform binary as the wrapper costs about twice as much (package
// initialisation of everything conform links in).
package nswrap

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
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
// possible-CPU file to bind-mount over PossibleCPUsPath (or ""), the
// RLIMIT_MEMLOCK to set for the adapter ("cur:max", or ""), the CPUs the
// adapter may run on (CPU ids, comma-separated: FormatCPUs; or "") and a
// cgroup directory to join
// first (its cpuset is what the adapter's cgroup shows; or "").
const (
	EnvExec     = "PERFCONFORM_NSWRAP_EXEC"
	EnvPossible = "PERFCONFORM_NSWRAP_POSSIBLE"
	EnvMemlock  = "PERFCONFORM_NSWRAP_MEMLOCK"
	EnvCPUs     = "PERFCONFORM_NSWRAP_CPUS"
	EnvCgroup   = "PERFCONFORM_NSWRAP_CGROUP"
)

// Exit statuses of a wrapper that could not set up the adapter.
const (
	ExitAccount = 122
	ExitCPUs    = 123
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
	// The affinity is a property of the thread that forks the adapter:
	// keep this goroutine on one thread from setting it to starting the
	// adapter.
	runtime.LockOSThread()
	if err := restrictCPUs(os.Getenv(EnvCgroup), os.Getenv(EnvCPUs)); err != nil {
		return fail(ExitCPUs, "%v", err)
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
	if acct := os.Getenv(EnvAccount); acct != "" {
		// Last, on the thread that forks the adapter: the mounts above
		// need root's identity in this thread.
		uid, err := strconv.Atoi(acct)
		if err == nil && uid <= 0 {
			err = errors.New("want a user id above 0")
		}
		if err == nil {
			err = becomeAccount(uid)
		}
		if err != nil {
			return fail(ExitAccount, "run the adapter as user %s (a locked-memory account of its own): %v", acct, err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, v := range []string{EnvExec, EnvPossible, EnvMemlock, EnvCPUs, EnvCgroup, EnvAccount} {
			if strings.HasPrefix(kv, v+"=") {
				return true
			}
		}
		return false
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

// restrictCPUs moves this process into the cgroup directory cgroup (when
// set: writing 0 to cgroup.procs moves the writer's whole thread group, in
// cgroup v2 and in v1 alike, and the kernel narrows its affinity to the
// cgroup's cpuset) and sets this thread's affinity to cpus (when set), which
// the adapter inherits. It then reads the affinity back: an adapter must not
// run believing it is restricted when it is not, or the other way round.
func restrictCPUs(cgroup, cpus string) error {
	if cgroup != "" {
		procs := filepath.Join(cgroup, "cgroup.procs")
		if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup %s: %w", cgroup, err)
		}
	}
	if cpus == "" {
		return nil
	}
	want, err := parseCPUs(cpus)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	for _, c := range want {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(%s): %w", cpus, err)
	}
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(0, &got); err != nil {
		return fmt.Errorf("sched_getaffinity: %w", err)
	}
	if got != set {
		var have []int
		for c := 0; c < len(got)*64; c++ {
			if got.IsSet(c) {
				have = append(have, c)
			}
		}
		return fmt.Errorf("affinity is CPUs %s after setting it to %s", FormatCPUs(have), cpus)
	}
	return nil
}

// FormatCPUs renders CPU ids as EnvCPUs wants them ("0,1"). The wrapper
// takes ids rather than a Linux CPU list so that it needs no list parser
// (reference/topology is above internal/); the process client converts.
func FormatCPUs(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// cpuSetSize is how many CPUs a sched_setaffinity mask holds here.
const cpuSetSize = len(unix.CPUSet{}) * 64

func parseCPUs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(f)
		if err != nil || c < 0 || c >= cpuSetSize {
			return nil, fmt.Errorf("%s=%q: %q is not a CPU id below %d", EnvCPUs, s, f, cpuSetSize)
		}
		out = append(out, c)
	}
	return out, nil
}

// CpusetCgroup creates the cgroup name under the hierarchy mounted at root
// (or takes it as it is) with its cpuset limited to cpus, for EnvCgroup, and
// returns its directory and the CPUs its cpuset takes effect on, as the
// kernel reports them (its CPU-list text, trimmed). root is a cgroup v2 mount (its cgroup.controllers
// lists cpuset; the controller is enabled for root's children) or a cgroup
// v1 cpuset hierarchy (the new cgroup gets root's memory nodes, without
// which v1 lets no process join).
func CpusetCgroup(root, name, cpus string) (dir, effective string, err error) {
	dir = filepath.Join(root, name)
	write := func(file, value string) error {
		if err := os.WriteFile(filepath.Join(root, file), []byte(value), 0); err != nil {
			return fmt.Errorf("cpuset cgroup: write %q to %s: %w", value, filepath.Join(root, file), err)
		}
		return nil
	}
	controllers, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	v2 := err == nil
	switch {
	case v2 && !slices.Contains(strings.Fields(string(controllers)), "cpuset"):
		return "", "", fmt.Errorf("cpuset cgroup: %s has no cpuset controller (cgroup.controllers: %q)", root, strings.TrimSpace(string(controllers)))
	case v2:
		if err := write("cgroup.subtree_control", "+cpuset"); err != nil {
			return "", "", err
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", "", fmt.Errorf("cpuset cgroup: %w", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", "", fmt.Errorf("cpuset cgroup: %w", err)
	}
	effectiveFile := "cpuset.cpus.effective"
	if !v2 {
		mems, err := os.ReadFile(filepath.Join(root, "cpuset.mems"))
		if err != nil {
			return "", "", fmt.Errorf("cpuset cgroup (v1): %w", err)
		}
		if err := write(filepath.Join(name, "cpuset.mems"), strings.TrimSpace(string(mems))); err != nil {
			return "", "", err
		}
		effectiveFile = "cpuset.effective_cpus"
	}
	if err := write(filepath.Join(name, "cpuset.cpus"), cpus); err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, effectiveFile))
	if err != nil {
		return "", "", fmt.Errorf("cpuset cgroup: %w", err)
	}
	return dir, strings.TrimSpace(string(data)), nil
}
