package vmtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/kernel/kerneltest"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

// vmEnv skips unless QEMU and the debian-6.1 kernel are there, and builds
// the test guest once.
func vmEnv(t *testing.T) (cacheDir, guestBin string) {
	t.Helper()
	cacheDir = vmtesting.RequireVMs(t, "debian-6.1")
	guestBin, err := vmtest.BuildGuest(context.Background(), t.TempDir(), "github.com/perfconform/perfconform/vmtest/internal/testguest")
	if err != nil {
		t.Fatal(err)
	}
	return cacheDir, guestBin
}

// ourQEMUs lists the qemu-system processes (zombies included) whose parent
// is this test process: other people's VMs on a shared machine do not count.
func ourQEMUs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		comm, rest := s[open+1:close], strings.Fields(s[close+1:])
		if len(rest) < 2 || !strings.HasPrefix(comm, "qemu-system") {
			continue
		}
		if ppid, _ := strconv.Atoi(rest[1]); ppid == os.Getpid() {
			found = append(found, e.Name()+" ("+rest[0]+")")
		}
	}
	return found
}

func noQEMULeft(t *testing.T) {
	t.Helper()
	for _, p := range ourQEMUs(t) {
		t.Errorf("qemu process %s survived the run", p)
	}
}

func mustTopology(t *testing.T, name string) topology.Topology {
	t.Helper()
	top, err := topology.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func TestVMRealizesTopologies(t *testing.T) {
	cacheDir, guestBin := vmEnv(t)
	out := t.TempDir()
	jobs := []vmtest.Job{
		{Kernel: "debian-6.1", Topology: mustTopology(t, "1cpu")},
		{Kernel: "debian-6.1", Topology: mustTopology(t, "sparse")},
	}
	res, err := vmtest.Run(context.Background(), jobs,
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithOutDir(out),
		vmtest.WithProgress(func(p vmtest.Progress) { t.Log(p) }))
	if err != nil {
		t.Fatal(err)
	}
	noQEMULeft(t)
	if _, err := (&kernel.Cache{Dir: cacheDir}).Cached("debian-6.12"); err == nil {
		// Declared not realizable on 6.12: an error, and no VM boots.
		r, err := vmtest.Run(context.Background(), []vmtest.Job{{Kernel: "debian-6.12", Topology: mustTopology(t, "hotplug-slots")}},
			vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithOutDir(out))
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(r[0].Err, vmtest.ErrNotRealizable) || !r[0].Started.IsZero() {
			t.Errorf("hotplug-slots on 6.12: error %v, started %v; want ErrNotRealizable without a boot", r[0].Err, r[0].Started)
		}
	}
	for i, r := range res {
		want, _ := jobs[i].Topology.ExpectFor(r.Kernel.Arch, r.Kernel.Release)
		if r.Err != nil {
			t.Errorf("%s: %v", r.Topology, r.Err)
			continue
		}
		if !r.Realized || r.Masks != want.Masks {
			t.Errorf("%s: realized %v masks %+v, want %+v", r.Topology, r.Realized, r.Masks, want.Masks)
		}
		if len(r.Results) != 1 || r.Results[0].Detail != "online="+want.Masks.Online || r.Results[0].Status != result.Pass {
			t.Errorf("%s: results %+v, want one PASS with detail online=%s", r.Topology, r.Results, want.Masks.Online)
		}
		if r.Results[0].Kernel != "debian-6.1" || r.Results[0].Topology != r.Topology || r.Results[0].Accelerator == "" {
			t.Errorf("%s: result not labelled with kernel/topology/accelerator: %+v", r.Topology, r.Results[0])
		}
		if r.Accelerator == "" || r.BootTime() <= 0 || r.RunTime() < 0 {
			t.Errorf("%s: accelerator %q boot %v run %v", r.Topology, r.Accelerator, r.BootTime(), r.RunTime())
		}
		for _, f := range []string{"events.jsonl", "console.log", "vm.json"} {
			if _, err := os.Stat(filepath.Join(r.OutDir, f)); err != nil {
				t.Errorf("%s: %v", r.Topology, err)
			}
		}
		t.Logf("%s: %s masks %+v boot %v total %v", r.Topology, r.Accelerator, r.Masks, r.BootTime(), r.Ended.Sub(r.Started))
	}
}

func TestVMFailures(t *testing.T) {
	cacheDir, guestBin := vmEnv(t)
	one := mustTopology(t, "1cpu")
	jobs := []vmtest.Job{
		{Kernel: "debian-6.1", Topology: one, Args: []string{"panic"}},
		{Kernel: "debian-6.1", Topology: one, Args: []string{"hang"}, PayloadTimeout: 3 * time.Second},
		{Kernel: "debian-6.1", Topology: one, Args: []string{"exit"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := vmtest.Run(ctx, jobs,
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithOutDir(t.TempDir()),
		vmtest.WithProgress(func(p vmtest.Progress) { t.Log(p) }))
	if err != nil {
		t.Fatal(err)
	}
	noQEMULeft(t)
	for _, tc := range []struct {
		name     string
		res      vmtest.VMResult
		sentinel error
		evidence string // must be in the error text
	}{
		{"panic", res[0], vmtest.ErrNoDone, "testguest panics on purpose"},
		{"hang", res[1], vmtest.ErrTimeout, "Run /init as init process"},
		{"exit", res[2], vmtest.ErrNoDone, "Attempted to kill init"},
	} {
		if !errors.Is(tc.res.Err, tc.sentinel) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.res.Err, tc.sentinel)
			continue
		}
		if !strings.Contains(tc.res.Err.Error(), tc.evidence) {
			t.Errorf("%s: error lacks %q:\n%v", tc.name, tc.evidence, tc.res.Err)
		}
		if tc.res.Booted.IsZero() {
			t.Errorf("%s: the guest never booted", tc.name)
		}
	}
	if !errors.Is(res[0].Err, vmtest.ErrGuest) {
		t.Errorf("panic: error %v, want the guest's error event too", res[0].Err)
	}
	// The kernel's panic (PID 1 exited) is named on the first line, which
	// is what an ERROR result's detail carries.
	if first, _, _ := strings.Cut(res[2].Err.Error(), "\n"); !strings.Contains(first, "kernel panic: Attempted to kill init") {
		t.Errorf("exit: first line %q, want the kernel panic named", first)
	}
}

// The leak check must see a qemu-system child that is still around.
func TestLeakCheckSeesChildren(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	fake := filepath.Join(t.TempDir(), "qemu-system-fake")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := ourQEMUs(t)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(found) != 1 {
		t.Errorf("found %v, want the one fake qemu child", found)
	}
	if left := ourQEMUs(t); len(left) != 0 {
		t.Errorf("after kill and wait: %v", left)
	}
}

// TestVMArchitectures runs amd64 and arm64 VMs in one Run: each architecture
// gets its own guest binary and image, the arm64 6.1 kernel loads the virtio
// console modules for its event channel (6.12 has them built in), and
// hotplug slots are declared not realizable on arm64 (no boot).
func TestVMArchitectures(t *testing.T) {
	cacheDir, guestBin := vmEnv(t)
	if _, err := exec.LookPath(qemu.BinaryFor(arch.Arm64)); err != nil {
		t.Skipf("VM test: %v", err)
	}
	cache := &kernel.Cache{Dir: cacheDir}
	jobs := []vmtest.Job{{Kernel: "debian-6.1", Topology: mustTopology(t, "1cpu")}}
	for _, k := range []string{"debian-6.1-arm64", "debian-6.12-arm64"} {
		if _, err := cache.Cached(k); err != nil {
			t.Logf("skipping %s: %v", k, err)
			continue
		}
		jobs = append(jobs, vmtest.Job{Kernel: k, Topology: mustTopology(t, "sparse")},
			vmtest.Job{Kernel: k, Topology: mustTopology(t, "hotplug-slots")})
	}
	if len(jobs) == 1 {
		t.Skip("no arm64 kernel fetched (conform kernels fetch debian-6.1-arm64)")
	}
	armBin, err := vmtest.BuildGuestFor(context.Background(), t.TempDir(), "github.com/perfconform/perfconform/vmtest/internal/testguest", arch.Arm64)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vmtest.Run(context.Background(), jobs, vmtest.WithParallel(1),
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithGuestBinary(armBin),
		vmtest.WithOutDir(t.TempDir()), vmtest.WithProgress(func(p vmtest.Progress) { t.Log(p) }))
	if err != nil {
		t.Fatal(err)
	}
	noQEMULeft(t)
	for i, r := range res {
		want, expErr := jobs[i].Topology.ExpectFor(r.Kernel.Arch, r.Kernel.Release)
		wantArch := "amd64"
		if strings.HasSuffix(jobs[i].Kernel, "-arm64") {
			wantArch = "arm64"
		}
		switch {
		case r.Kernel.Arch != wantArch:
			t.Errorf("%s: arch %q, want %s", jobs[i].Kernel, r.Kernel.Arch, wantArch)
		case expErr != nil:
			if !errors.Is(r.Err, vmtest.ErrNotRealizable) || !r.Started.IsZero() {
				t.Errorf("%s/%s: %v, started %v; want ErrNotRealizable without a boot", jobs[i].Kernel, r.Topology, r.Err, r.Started)
			}
		case r.Err != nil:
			t.Errorf("%s/%s: %v", jobs[i].Kernel, r.Topology, r.Err)
		case !r.Realized || r.Masks != want.Masks || len(r.Results) != 1 || r.Results[0].Detail != "online="+want.Masks.Online:
			t.Errorf("%s/%s: realized %v masks %+v results %+v, want %+v", jobs[i].Kernel, r.Topology, r.Realized, r.Masks, r.Results, want.Masks)
		}
	}
}

// WithKernelCheck refuses a kernel before anything is built or booted; the
// release comes from the bzImage header.
func TestKernelCheckRefusesBeforeBooting(t *testing.T) {
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		t.Skipf("needs %s: %v", qemu.DefaultBinary, err)
	}
	self, err := os.Executable() // an amd64 ELF: Run reads the guest's architecture first
	if err != nil {
		t.Fatal(err)
	}
	old := kerneltest.FakeBzImage(t, "", "4.19.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP")
	errOld := errors.New("too old")
	var seen []string
	res, err := vmtest.Run(context.Background(), []vmtest.Job{{Kernel: old, Topology: mustTopology(t, "1cpu")}},
		vmtest.WithCacheDir(t.TempDir()), vmtest.WithGuestBinary(self), vmtest.WithOutDir(t.TempDir()),
		vmtest.WithKernelCheck(func(k kernel.Kernel) error {
			seen = append(seen, k.Release)
			if k.Release == "4.19.0-27-amd64" {
				return errOld
			}
			return nil
		}))
	if !errors.Is(err, errOld) || res != nil || !strings.Contains(err.Error(), "4.19.0-27-amd64") {
		t.Errorf("Run: %v, %d results; want the check's error naming the release and no VM", err, len(res))
	}
	if len(seen) != 1 {
		t.Errorf("check saw %q, want the one kernel once", seen)
	}

	// Kernels given by path are named by their release: two files of one
	// release would mix their results, so the run is refused.
	a := kerneltest.FakeBzImage(t, "", "6.6.30-test #1")
	b := kerneltest.FakeBzImage(t, "", "6.6.30-test #2")
	_, err = vmtest.Run(context.Background(), []vmtest.Job{{Kernel: a, Topology: mustTopology(t, "1cpu")}, {Kernel: b, Topology: mustTopology(t, "1cpu")}},
		vmtest.WithCacheDir(t.TempDir()), vmtest.WithGuestBinary(self), vmtest.WithOutDir(t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "both named 6.6.30-test") {
		t.Errorf("two files of one release: %v, want a refusal naming the release", err)
	}
}

// TestStaleVMDirsAreRemoved (issue 24 item 11): a VM run killed with
// SIGKILL leaves each VM's work directory (its 25 MB initrd) in the
// temporary directory; the next Run removes those, but not one of a run
// still going (held: here by this test) nor one kept with WithKeep.
func TestStaleVMDirsAreRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stale := filepath.Join(tmp, "perfconform-vm-123456")
	live := filepath.Join(tmp, "perfconform-vm-654321")
	kept := filepath.Join(tmp, "perfconform-kept-vm-42")
	for _, d := range []string{stale, live, kept} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "initrd.cpio"), []byte("070701"), 0o644)
	}
	release, err := filelock.TryLock(live)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// Refused before anything boots: no such kernel.
	_, err = vmtest.Run(context.Background(), []vmtest.Job{{Kernel: filepath.Join(tmp, "no-such-bzImage"), Topology: mustTopology(t, "1cpu")}},
		vmtest.WithCacheDir(t.TempDir()), vmtest.WithOutDir(t.TempDir()))
	if err == nil {
		t.Fatal("Run of a missing kernel succeeded")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a killed run's %s is still there (%v)", stale, err)
	}
	for _, d := range []string{live, kept} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
