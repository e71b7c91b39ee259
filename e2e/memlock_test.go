package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/e2e/internal/memlockguest"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/topology"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

// On 5.10 the kernel charges BPF memory to RLIMIT_MEMLOCK, 64 KiB for PID 1.
// Booted as a VM's init with that default, the reference must detect the
// charging, raise the limit itself and load; the negative control (maps
// created without raising until the kernel refuses one, kept open) shows the
// default limit really refuses BPF objects there and uses it up, so a
// reference that did not raise it fails its load (checked by disabling the
// raise: "map events: create perf event array with 4 entries:
// BPF_MAP_CREATE: operation not permitted"). (In
// `conform run` the reference runs in the suite's process, whose limit the
// suite has raised, so this is where the reference's own raise is checked.)
func TestReferenceRaisesMemlockOn510(t *testing.T) {
	cacheDir := vmtesting.RequireVMs(t, "debian-5.10")
	guestBin, err := vmtest.BuildGuest(context.Background(), t.TempDir(), "github.com/perfconform/perfconform/e2e/internal/memlockguest/init")
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
