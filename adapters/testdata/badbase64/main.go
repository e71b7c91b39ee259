// Command badbase64 is a negative-control adapter: the cilium-ebpf adapter,
// except that right after its ready line it prints a sample line whose data
// is not base64. The loader behind it is fine; the adapter broke the
// protocol, and the suite's client stops it at that line. `conform run` must
// report an ERROR naming the bad line, and `conform adapter-check` a FAIL
// naming it, never a verdict on the rings the stopped adapter took with it.
package main

import (
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{Loader: "badbase64", Version: ciliumload.Version(), Protocol: protocol.Version},
		ciliumload.Load(ciliumload.Options{AfterReady: func(w *adapterkit.Writer, perfMaps []string) error {
			fmt.Fprintln(os.Stderr, "badbase64 control: printing a sample that is not base64")
			return w.Line(fmt.Sprintf(`{"event":"sample","map":%q,"cpu":0,"data":"%%%%not base64%%%%"}`, perfMaps[0]))
		}}))
}
