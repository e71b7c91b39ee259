// Command nocpu is a negative-control adapter: the cilium-ebpf adapter,
// except that its sample lines carry no "cpu" field at all. The protocol
// requires one on every sample and lost line (a CPU id, or -1 where the
// protocol revision allows it): a missing field must not be read as CPU 0,
// which would credit every sample to CPU 0. The suite's client stops the
// adapter at the first such line (an adapter error).
package main

import (
	"encoding/base64"
	"fmt"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{Loader: "nocpu", Version: ciliumload.Version(), Protocol: protocol.Version},
		ciliumload.Load(ciliumload.Options{Sample: func(w *adapterkit.Writer, m string, _ int, data []byte) error {
			return w.Line(fmt.Sprintf(`{"event":"sample","map":%q,"data":%q}`, m, base64.StdEncoding.EncodeToString(data)))
		}}))
}
