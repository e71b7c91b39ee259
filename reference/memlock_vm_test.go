package reference_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/reference/internal/memlockguest"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// On 5.10 the kernel charges BPF memory to RLIMIT_MEMLOCK, 64 KiB for PID 1.
// Booted as a VM's init with that default, the reference must detect the
// charging, raise the limit itself and load; the negative control (maps
// created without raising) shows the default limit really refuses BPF
// objects there, so a reference that did not raise it would fail.
func TestReferenceRaisesMemlockOn510(t *testing.T) {
	if testing.Short() {
		t.Skip("VM test: skipped with -short")
	}
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		t.Skipf("VM test: %v", err)
	}
	cacheDir, err := kernel.DefaultCacheDir()
	if err != nil {
		t.Skip(err)
	}
	if _, err := (&kernel.Cache{Dir: cacheDir}).Cached("debian-5.10"); err != nil {
		t.Skipf("VM test: %v", err)
	}
	guestBin, err := vmtest.BuildGuest(context.Background(), t.TempDir(), "github.com/perfconform/perfconform/reference/internal/memlockguest/init")
	if err != nil {
		t.Fatal(err)
	}
	top, err := topology.Get("sparse")
	if err != nil {
		t.Fatal(err)
	}
	res, err := vmtest.Run(context.Background(), []vmtest.Job{{Kernel: "debian-5.10", Topology: top}},
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithOutDir(t.TempDir()),
		vmtest.WithProgress(func(p vmtest.Progress) { t.Log(p) }))
	if err != nil {
		t.Fatal(err)
	}
	vm := res[0]
	if vm.Err != nil || len(vm.Results) != 1 {
		t.Fatalf("VM: %v, %d results; logs %q", vm.Err, len(vm.Results), vm.Logs)
	}
	var rep memlockguest.Report
	if err := json.Unmarshal([]byte(vm.Results[0].Detail), &rep); err != nil {
		t.Fatalf("detail %q: %v", vm.Results[0].Detail, err)
	}
	t.Logf("%s: %+v", vm.Kernel.Release, rep)
	if !rep.Charged {
		t.Errorf("bpfsys.MemlockCharged on %s = false, want true", vm.Kernel.Release)
	}
	if rep.Before != 64<<10 {
		t.Errorf("PID 1's RLIMIT_MEMLOCK on %s = %d, want the kernel default 65536", vm.Kernel.Release, rep.Before)
	}
	if rep.ControlMaps >= memlockguest.ControlCap || !strings.Contains(rep.ControlErr, "operation not permitted") {
		t.Errorf("negative control: %d maps created under the default limit (stopped by %q); want EPERM before %d",
			rep.ControlMaps, rep.ControlErr, memlockguest.ControlCap)
	}
	if rep.LoadErr != "" || len(rep.Rings) != 3 {
		t.Errorf("reference on %s with the default limit: %q, rings %v; want a load and rings on 0,2,3", vm.Kernel.Release, rep.LoadErr, rep.Rings)
	}
	if rep.After != unix.RLIM_INFINITY {
		t.Errorf("RLIMIT_MEMLOCK after the load = %d, want unlimited", rep.After)
	}
}
