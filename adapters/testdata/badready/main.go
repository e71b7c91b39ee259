// Command badready is a negative-control adapter: the cilium-ebpf adapter,
// except that its ready line lists a perf event array the object does not
// have ("ghost") instead of the ones it opened readers on. The process
// client must refuse the ready line as a protocol violation.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

// lying rewrites the ready line on its way to stdout.
type lying struct{}

func (lying) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"event":"ready"`)) {
		if _, err := os.Stdout.WriteString(`{"event":"ready","maps":["ghost"]}` + "\n"); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return os.Stdout.Write(p)
}

func main() {
	load := ciliumload.Load(ciliumload.Options{})
	adapterkit.Main(protocol.Info{Loader: "badready", Version: ciliumload.Version(), Protocol: protocol.Version},
		func(ctx context.Context, args adapterkit.LoadArgs, _ *adapterkit.Writer) error {
			fmt.Fprintln(os.Stderr, "badready control: announcing map ghost")
			return load(ctx, args, adapterkit.NewWriter(lying{}))
		})
}
