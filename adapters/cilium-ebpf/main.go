// Command cilium-ebpf is the perfconform adapter for github.com/cilium/ebpf:
// ebpf.LoadCollectionSpec and ebpf.NewCollection with default options (the
// library sizes perf event arrays itself), Map.Pin for every map, and
// perf.NewReader on every perf event array. See docs/ADAPTERS.md.
//
// Build it static so it runs in a VM initramfs:
//
//	CGO_ENABLED=0 go build -o bin/cilium-ebpf ./adapters/cilium-ebpf
package main

import (
	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{
		Loader:       "cilium-ebpf",
		Version:      ciliumload.Version(),
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{}))
}
