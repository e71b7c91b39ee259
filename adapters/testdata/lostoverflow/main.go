// Command lostoverflow is a wrong loader built on cilium/ebpf: it reports
// every count of lost records n as two lost lines, 2^64-1 and then n+1, whose
// sum wraps around to exactly n in 64 bits. The loader claims far more loss
// than the kernel had; RING-LOST must FAIL it ("more loss than the kernel
// had"), which a sum that wraps would hide.
package main

import (
	"math"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{Loader: "lostoverflow", Version: ciliumload.Version(), Protocol: protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning}},
		ciliumload.Load(ciliumload.Options{Lost: func(w *adapterkit.Writer, m string, cpu int, n uint64) error {
			if err := w.Lost(m, cpu, math.MaxUint64); err != nil {
				return err
			}
			return w.Lost(m, cpu, n+1)
		}}))
}
