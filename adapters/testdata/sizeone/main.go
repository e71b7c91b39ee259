// Command sizeone is a wrong loader built on cilium/ebpf: it forces
// max_entries 1 on every perf event array, so only CPU 0 has a slot. On a
// host with two or more CPUs, output from CPU 1 fails with E2BIG.
package main

import (
	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/internal/rawmap"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{
		Loader:       "sizeone",
		Version:      "cilium/ebpf " + ciliumload.Version() + " with max_entries forced to 1",
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{PerfArray: func(spec *ebpf.MapSpec) (*ebpf.Map, error) {
		return rawmap.PerfEventArray(spec.Name, 1)
	}}))
}
