// Command envafterpin is a negative-control adapter: it creates every perf
// event array of the object with max_entries 32 (hardcode32's mistake), pins
// it under the pin directory, and then reports the stage "environment", which
// the protocol reserves for refusals before the loader touched the object.
// The suite must not honour it (that would turn every verdict into an ERROR,
// SIZE-AUTO's included, which the kernel can judge from the pin): the loader
// pinned maps, so its failure is a failure at load, judged as such.
package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/rawmap"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{Loader: "envafterpin", Version: "0", Protocol: protocol.Version, Minor: 1},
		func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
			spec, err := ebpf.LoadCollectionSpec(args.Object)
			if err != nil {
				return adapterkit.Fail(protocol.StageLoad, err)
			}
			for name, ms := range spec.Maps {
				if ms.Type != ebpf.PerfEventArray {
					continue
				}
				m, err := rawmap.PerfEventArray(name, 32)
				if err != nil {
					return adapterkit.Fail(protocol.StageLoad, err)
				}
				err = m.Pin(filepath.Join(args.PinDir, name))
				m.Close()
				if err != nil {
					return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("pin map %s: %w", name, err))
				}
			}
			return adapterkit.Fail(protocol.StageEnvironment,
				errors.New("envafterpin control: refusing to run in this environment after pinning (on purpose)"))
		})
}
