package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/internal/nswrap"
)

// wrappers are the two executables that serve as the session wrapper: this
// test binary re-executed (TestMain calls MaybeRunNamespaceWrapper) and the
// dedicated cmd/perfconform-nswrap, built here.
func wrappers(t *testing.T) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the session wrapper needs root (PID and mount namespaces)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	dedicated := filepath.Join(t.TempDir(), nswrap.ExecutableName)
	build := exec.Command(goBin, "build", "-o", dedicated, "github.com/perfconform/perfconform/cmd/perfconform-nswrap")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the dedicated wrapper: %v\n%s", err, out)
	}
	return map[string]string{"self": self, "dedicated": dedicated}
}

// wrapped runs argv (argv[0] an absolute path) through wrapper with the
// wrapper variables in env, as the process client does.
func wrapped(wrapper string, env []string, argv ...string) *exec.Cmd {
	cmd := exec.Command(wrapper, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	cmd.Env = append(append(os.Environ(), nswrap.EnvExec+"="+argv[0]), env...)
	return cmd
}

// Both wrappers give the adapter the RLIMIT_MEMLOCK they are told (the limit
// this process had before raising it; /bin/cat prints its own limits), run
// it as the child of PID 1 of a fresh PID namespace with a /proc of its own,
// and pass its exit status and stderr through; a malformed limit stops the
// wrapper with its own status, not an exec.
func TestWrapper(t *testing.T) {
	var ours unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &ours); err != nil {
		t.Fatal(err)
	}
	// Lowering is always allowed; keep the hard limit at or below ours.
	want := unix.Rlimit{Cur: 64 << 10, Max: min(ours.Max, 1<<20)}
	if ours.Cur < want.Cur {
		want.Cur = ours.Cur
	}
	for name, wrapper := range wrappers(t) {
		t.Run(name, func(t *testing.T) {
			out, err := wrapped(wrapper, []string{nswrap.EnvMemlock + "=" + nswrap.FormatRlimit(want)}, "/bin/cat", "/proc/self/limits").CombinedOutput()
			if err != nil {
				t.Fatalf("wrapper: %v\n%s", err, out)
			}
			m := regexp.MustCompile(`Max locked memory\s+(\S+)\s+(\S+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no locked memory line in\n%s", out)
			}
			if got := string(m[1]) + ":" + string(m[2]); got != nswrap.FormatRlimit(want) {
				t.Errorf("adapter's RLIMIT_MEMLOCK %s, want %s", got, nswrap.FormatRlimit(want))
			}

			var stderr strings.Builder
			sh := wrapped(wrapper, nil, "/bin/sh", "-c", "readlink /proc/1/exe; echo oops >&2; exit 7")
			sh.Stderr = &stderr
			out, err = sh.Output()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 7 {
				t.Errorf("exit 7 through the wrapper: %v", err)
			}
			// PID 1 of the shell's namespace, seen in its own /proc,
			// is the wrapper.
			if got := strings.TrimSpace(string(out)); got != wrapper {
				t.Errorf("PID 1 seen by the adapter = %q, want the wrapper %s", got, wrapper)
			}
			if stderr.String() != "oops\n" {
				t.Errorf("adapter stderr through the wrapper = %q, want %q", stderr.String(), "oops\n")
			}

			if err := wrapped(wrapper, []string{nswrap.EnvMemlock + "=lots"}, "/bin/cat").Run(); !errors.As(err, &ee) || ee.ExitCode() != nswrap.ExitMemlock {
				t.Errorf("malformed limit: %v, want exit status %d", err, nswrap.ExitMemlock)
			}

			// An account of its own: real, effective and saved uid
			// (not a secure exec) with every capability root had.
			if !nswrap.SeparateAccounts() {
				return
			}
			out, err = wrapped(wrapper, []string{nswrap.EnvAccount + "=200777"}, "/bin/cat", "/proc/self/status").CombinedOutput()
			if err != nil {
				t.Fatalf("wrapper with an account: %v\n%s", err, out)
			}
			status := string(out)
			if !regexp.MustCompile(`(?m)^Uid:\s+200777\s+200777\s+200777\s+200777$`).MatchString(status) {
				t.Errorf("adapter's uids, want 200777 four times:\n%s", status)
			}
			self, err := os.ReadFile("/proc/self/status")
			if err != nil {
				t.Fatal(err)
			}
			ourEff := regexp.MustCompile(`(?m)^CapEff:\s+(\S+)$`).FindStringSubmatch(string(self))
			for _, set := range []string{"CapEff", "CapPrm", "CapAmb"} {
				m := regexp.MustCompile(`(?m)^` + set + `:\s+(\S+)$`).FindStringSubmatch(status)
				if m == nil || ourEff == nil || m[1] != ourEff[1] {
					t.Errorf("adapter's %s %v, want ours %v", set, m, ourEff)
				}
			}
			for _, bad := range []string{"0", "x"} {
				err := wrapped(wrapper, []string{nswrap.EnvAccount + "=" + bad}, "/bin/true").Run()
				if !errors.As(err, &ee) || ee.ExitCode() != nswrap.ExitAccount {
					t.Errorf("account %q: %v, want exit status %d", bad, err, nswrap.ExitAccount)
				}
			}
		})
	}
}

// The client takes the dedicated wrapper only when an executable file of
// that name lies next to its own executable.
func TestWrapperNextTo(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want bool // the dedicated one
	}{
		{"absent", func(*testing.T, string) {}, false},
		{"executable", func(t *testing.T, p string) { mustWrite(t, p, 0o755) }, true},
		{"not executable", func(t *testing.T, p string) { mustWrite(t, p, 0o644) }, false},
		{"a directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			self := filepath.Join(dir, "conform")
			dedicated := filepath.Join(dir, nswrap.ExecutableName)
			tc.make(t, dedicated)
			want := self
			if tc.want {
				want = dedicated
			}
			if got := wrapperNextTo(self); got != want {
				t.Errorf("wrapperNextTo(%s) = %s, want %s", self, got, want)
			}
		})
	}
}

func mustWrite(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
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

// cpusetRoot is a cpuset cgroup hierarchy of this machine: cgroup v2 with
// the cpuset controller, or the v1 cpuset hierarchy.
func cpusetRoot(t *testing.T) string {
	t.Helper()
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if c, err := os.ReadFile(filepath.Join(root, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(c)), "cpuset") {
			return root
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpuset/cpuset.cpus"); err == nil {
		return "/sys/fs/cgroup/cpuset"
	}
	t.Skip("no cpuset cgroup hierarchy here")
	return ""
}

// Both wrappers restrict the adapter to the CPUs they are told, by affinity
// and by joining a cpuset cgroup (the kernel then narrows the affinity
// itself), and refuse to start it when the restriction cannot be applied.
// The adapter here is grep, reading its own status and cgroup.
func TestWrapperRestrictsCPUs(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 || !all.IsSet(0) {
		t.Skip("needs CPU 0 and another CPU in this process's affinity")
	}
	ws := wrappers(t)
	root := cpusetRoot(t)
	name := fmt.Sprintf("perfconform-test-%d", os.Getpid())
	cg, effective, err := nswrap.CpusetCgroup(root, name, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cg)
	if effective != "0" {
		t.Fatalf("cgroup %s: effective CPUs %q, want 0", cg, effective)
	}
	allowed := regexp.MustCompile(`(?m)^Cpus_allowed_list:\s+(\S+)$`)
	for wname, wrapper := range ws {
		for _, tc := range []struct {
			name       string
			env        []string
			want       string // Cpus_allowed_list
			wantCgroup bool
		}{
			{"affinity", []string{nswrap.EnvCPUs + "=0"}, "0", false},
			{"cgroup", []string{nswrap.EnvCgroup + "=" + cg}, "0", true},
			{"both", []string{nswrap.EnvCPUs + "=0", nswrap.EnvCgroup + "=" + cg}, "0", true},
		} {
			t.Run(wname+"/"+tc.name, func(t *testing.T) {
				out, err := wrapped(wrapper, tc.env, "/bin/sh", "-c", "cat /proc/self/status /proc/self/cgroup").CombinedOutput()
				if err != nil {
					t.Fatalf("wrapper: %v\n%s", err, out)
				}
				m := allowed.FindSubmatch(out)
				if m == nil || string(m[1]) != tc.want {
					t.Errorf("adapter's Cpus_allowed_list = %q, want %q\n%s", m, tc.want, out)
				}
				if got := strings.Contains(string(out), "/"+name+"\n"); got != tc.wantCgroup {
					t.Errorf("adapter in cgroup %s: %v, want %v\n%s", name, got, tc.wantCgroup, out)
				}
			})
		}
		t.Run(wname+"/refused", func(t *testing.T) {
			var ee *exec.ExitError
			for _, env := range [][]string{
				{nswrap.EnvCPUs + "=4095"},                           // no such CPU: sched_setaffinity fails
				{nswrap.EnvCPUs + "=0-1"},                            // a CPU list, not ids (the client converts)
				{nswrap.EnvCPUs + "=1", nswrap.EnvCgroup + "=" + cg}, // outside the cgroup's cpuset
				{nswrap.EnvCgroup + "=" + filepath.Join(root, name+"-missing")},
			} {
				out, err := wrapped(wrapper, env, "/bin/true").CombinedOutput()
				if !errors.As(err, &ee) || ee.ExitCode() != nswrap.ExitCPUs || !strings.Contains(string(out), "perfconform session wrapper: ") {
					t.Errorf("%q: %v (%s), want exit status %d with the wrapper's message", env, err, out, nswrap.ExitCPUs)
				}
			}
		})
	}
}

// The client hands the wrapper a CPU list as ids and refuses one that does
// not parse before anything starts.
func TestWithCPUsEnv(t *testing.T) {
	if !wrapperAvailable.Load() {
		t.Skip("this test binary is not the session wrapper")
	}
	for _, tc := range []struct {
		cpus, cgroup string
		want         []string // variables, "" = an error
	}{
		{"0-1,4", "/sys/fs/cgroup/x", []string{nswrap.EnvCPUs + "=0,1,4", nswrap.EnvCgroup + "=/sys/fs/cgroup/x"}},
		{"", "/sys/fs/cgroup/x", []string{nswrap.EnvCPUs + "=", nswrap.EnvCgroup + "=/sys/fs/cgroup/x"}},
		{"0-1,x", "", nil},
	} {
		l := New("/bin/true", WithCPUs(tc.cpus, tc.cgroup)).(*Loader)
		cmd, err := l.command("")
		if tc.want == nil {
			if err == nil {
				t.Errorf("WithCPUs(%q): no error", tc.cpus)
			}
			continue
		}
		if err != nil {
			t.Fatalf("WithCPUs(%q): %v", tc.cpus, err)
		}
		for _, w := range tc.want {
			if !slices.Contains(cmd.Env, w) {
				t.Errorf("WithCPUs(%q, %q): env lacks %q", tc.cpus, tc.cgroup, w)
			}
		}
	}
	cmd, err := New("/bin/true").(*Loader).command("")
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, nswrap.EnvCPUs+"=") }) {
		t.Errorf("without WithCPUs: env %q", cmd.Env)
	}
}
