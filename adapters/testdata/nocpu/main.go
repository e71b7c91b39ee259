// Command nocpu is a negative-control adapter: the cilium-ebpf adapter,
// except that its sample lines carry no "cpu" field at all: one right after
// ready (so every session meets it, whichever checks share the session, as
// badbase64's line), then every record its reader delivers. The protocol
// requires "cpu" on every sample and lost line (a CPU id, or -1 where the
// protocol revision allows it): a missing field must not be read as CPU 0,
// which credited every sample to CPU 0 (RING-ATTRIBUTE FAILed for CPU 1).
// The suite's client stops the adapter at the first such line (an adapter
// error).
package main

import (
	"encoding/base64"
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func sample(w *adapterkit.Writer, m string, data []byte) error {
	return w.Line(fmt.Sprintf(`{"event":"sample","map":%q,"data":%q}`, m, base64.StdEncoding.EncodeToString(data)))
}

func main() {
	adapterkit.Main(protocol.Info{Loader: "nocpu", Version: ciliumload.Version(), Protocol: protocol.Version},
		ciliumload.Load(ciliumload.Options{
			AfterReady: func(w *adapterkit.Writer, perfMaps []string) error {
				fmt.Fprintln(os.Stderr, "nocpu control: printing samples without \"cpu\"")
				return sample(w, perfMaps[0], []byte("nocpu"))
			},
			Sample: func(w *adapterkit.Writer, m string, _ int, data []byte) error { return sample(w, m, data) },
		}))
}
