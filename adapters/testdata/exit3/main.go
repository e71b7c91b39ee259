// Command exit3 is a negative-control adapter: the cilium-ebpf adapter,
// except that it exits with status 3 after stdin closes instead of 0. The
// loader behind it is fine; the adapter breaks the protocol's shutdown rule,
// which `conform run` must report as an ERROR like `adapter-check` does.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	load := ciliumload.Load(ciliumload.Options{})
	adapterkit.Main(protocol.Info{Loader: "exit3", Version: ciliumload.Version(), Protocol: protocol.Version},
		func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
			if err := load(ctx, args, w); err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "exit3 control: stdin closed, exiting with status 3")
			os.Exit(3)
			return nil
		})
}
