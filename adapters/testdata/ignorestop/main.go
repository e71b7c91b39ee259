// Command ignorestop is a negative-control adapter: the cilium-ebpf adapter,
// except that `load` ignores both stop conditions (stdin reaching EOF and
// SIGTERM) and runs until it is killed. The process client must kill it after
// its shutdown timeout and report the violation.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	load := ciliumload.Load(ciliumload.Options{})
	adapterkit.Main(protocol.Info{Loader: "ignorestop", Version: ciliumload.Version(), Protocol: protocol.Version},
		func(_ context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
			// adapterkit's stop context ends on EOF or SIGTERM; this one never ends.
			signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
			fmt.Fprintln(os.Stderr, "ignorestop control: ignoring stdin EOF and SIGTERM")
			return load(context.Background(), args, w)
		})
}
