package adapters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Control is a negative-control adapter from adapters/testdata.
type Control struct {
	Name string
	// WrongLoader: a real loader (cilium/ebpf) with one deliberate fault,
	// which specs must FAIL; otherwise a broken adapter the process client
	// must turn into ErrAdapter.
	WrongLoader bool
	Description string
}

// Controls lists the negative controls BuildTestdata builds.
var Controls = []Control{
	{"crash", false, "prints ready, then panics (leaving a child in its process group)"},
	{"hang", false, "never prints ready, ignores stdin and SIGTERM, leaves a child behind"},
	{"garbage", false, "valid info; load prints a line that is not JSON"},
	{"badversion", false, "info claims protocol version 99"},
	{"earlyexit", false, "prints ready and exits 0 without waiting for stdin to close"},
	{"exit3", false, "cilium/ebpf, but exits with status 3 after stdin closes"},
	{"ignorestop", false, "cilium/ebpf, but ignores stdin EOF and SIGTERM until killed"},
	{"badready", false, "cilium/ebpf, but its ready line lists a map the object does not have"},
	{"badbase64", false, "cilium/ebpf, but right after ready it prints a sample whose data is not base64"},
	{"nocpu", false, "cilium/ebpf, but its sample lines carry no \"cpu\" field (one right after ready, then every record)"},
	{"envafterpin", true, "pins every perf array with max_entries 32, then reports the stage \"environment\""},
	{"orphan", false, "cilium/ebpf, but each load starts a helper in its own session (setsid) and leaves it running"},
	{"hardcode32", true, "cilium/ebpf with every perf array created with max_entries 32"},
	{"sizeone", true, "cilium/ebpf with every perf array created with max_entries 1"},
	{"keyplus1", true, "cilium/ebpf with the ring of CPU c filed under key c+1 (max_entries possible+1)"},
	{"lostoverflow", true, "cilium/ebpf reporting each lost count n as 2^64-1 and then n+1 (a sum that wraps is n)"},
	{"offlinefail", true, "cilium/ebpf whose reader fails (ENODEV) once a CPU it had a ring for goes offline (RING-HOTPLUG-OFFLINE; VMs only)"},
	{"affinitycount", true, "cilium/ebpf with auto-sized perf arrays sized by the count of CPUs in its sched_getaffinity mask (nproc, runtime.NumCPU()); caught on the cpuset topology"},
}

// BuildTestdata builds every Control into binDir (static, so they also run in
// a VM) and returns name -> executable path.
func BuildTestdata(ctx context.Context, binDir string) (map[string]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	built := map[string]string{}
	var errs []error
	for _, c := range Controls {
		out, err := filepath.Abs(filepath.Join(binDir, c.Name))
		if err != nil {
			return nil, err
		}
		if err := goBuild("./adapters/testdata/"+c.Name)(ctx, root, out); err != nil {
			errs = append(errs, fmt.Errorf("%w: control %s: %w", ErrBuild, c.Name, err))
			continue
		}
		built[c.Name] = out
	}
	return built, errors.Join(errs...)
}
