// Command hardcode32 is a wrong loader built on cilium/ebpf: it forces
// max_entries 32 on every perf event array before NewCollection, the way
// loaders that hard-code a "big enough" CPU count do. Everything else is the
// cilium-ebpf adapter. The array is created with BPF_MAP_CREATE directly:
// cilium/ebpf would clamp 32 down to the possible CPUs.
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
		Loader:       "hardcode32",
		Version:      "cilium/ebpf " + ciliumload.Version() + " with max_entries forced to 32",
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{PerfArray: func(spec *ebpf.MapSpec) (*ebpf.Map, error) {
		return rawmap.PerfEventArray(spec.Name, 32)
	}}))
}
