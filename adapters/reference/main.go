// Command reference is the reference loader behind the adapter protocol
// (docs/ADAPTERS.md): the same loader `conform run --host` uses in-process,
// run as a process so it takes exactly the path other loaders take, inside
// VMs too. It is adapters/serve's canonical use: any suite.Loader becomes an
// adapter this way.
package main

import (
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/adapters/serve"
)

func main() { serve.Main(refadapter.New()) }
