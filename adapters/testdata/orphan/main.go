// Command orphan is a negative-control adapter: the cilium-ebpf adapter,
// except that every `load` first starts a helper in a session of its own
// (like `setsid sleep 777 &` in a shell script) and never stops it. The
// helper escapes the adapter's process group; the process client must still
// reap it when the session ends.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "orphan-helper" {
		time.Sleep(777 * time.Second)
		return
	}
	load := ciliumload.Load(ciliumload.Options{})
	adapterkit.Main(protocol.Info{Loader: "orphan", Version: ciliumload.Version(), Protocol: protocol.Version},
		func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
			helper := exec.Command(os.Args[0], "orphan-helper")
			helper.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := helper.Start(); err != nil {
				return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("orphan control: start helper: %w", err))
			}
			fmt.Fprintf(os.Stderr, "orphan control: started helper %d in its own session\n", helper.Process.Pid)
			return load(ctx, args, w)
		})
}
