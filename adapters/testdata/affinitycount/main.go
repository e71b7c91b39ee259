// Command affinitycount is a wrong loader built on cilium/ebpf: it sizes
// every perf event array declared without max_entries by the number of CPUs
// in its sched_getaffinity mask, as loaders that use nproc, Go's
// runtime.NumCPU() or a count of the CPUs they may run on do. Where the
// process may run on every CPU (and CPU ids are 0..n-1) that is the right
// size; under a cgroup cpuset or taskset (Kubernetes' static CPU manager:
// a pod sees every CPU in sysfs but may run on two) the array is too small
// and output on the CPUs past its end fails with E2BIG. The cpuset VM
// topology exposes it.
package main

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{
		Loader:       "affinitycount",
		Version:      "cilium/ebpf " + ciliumload.Version() + " with auto-sized perf arrays sized by the sched_getaffinity count",
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{AutoSize: affinityCount}))
}

func affinityCount() (uint32, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("sched_getaffinity: %w", err)
	}
	return uint32(set.Count()), nil
}
