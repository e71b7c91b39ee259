// Command adapter is goloader behind the adapter protocol (docs/ADAPTERS.md):
// what `conform run --loader PATH` and the VMs run.
package main

import (
	"github.com/perfconform/perfconform/adapters/serve"
	"github.com/perfconform/perfconform/examples/goloader"
)

func main() { serve.Main(goloader.New()) }
