// Command cilium-ebpf is the perfconform adapter for github.com/cilium/ebpf:
// rlimit.RemoveMemlock (as the library's documentation asks: it lifts
// RLIMIT_MEMLOCK on kernels before 5.11 only), ebpf.LoadCollectionSpec and
// ebpf.NewCollection with default options (the library sizes perf event
// arrays itself), Map.Pin for every map, and perf.NewReader on every perf
// event array. See docs/ADAPTERS.md.
//
// The same package is built against every cilium/ebpf release in the
// registry (adapters.CiliumVersions): the default with go.mod, the others
// with -modfile=versions/VERSION.mod. Build it static so it runs in a VM
// initramfs:
//
//	CGO_ENABLED=0 go build -o bin/cilium-ebpf ./adapters/cilium-ebpf
//	CGO_ENABLED=0 go build -modfile=adapters/cilium-ebpf/versions/v0.12.3.mod -o bin/cilium-ebpf@v0.12.3 ./adapters/cilium-ebpf
package main

import (
	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{
		// Named after the release linked in, as the registry names it.
		Loader:       "cilium-ebpf@" + ciliumload.Version(),
		Version:      ciliumload.Version(),
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{}))
}
