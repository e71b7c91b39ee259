// Command hardcode32 is a wrong loader built on cilium/ebpf: it forces
// max_entries 32 on every perf event array, the way loaders that hard-code a
// "big enough" CPU count do. Everything else is the cilium-ebpf adapter.
package main

import "github.com/perfconform/perfconform/adapters/internal/ciliumload"

func main() { ciliumload.FixedSizeMain("hardcode32", 32) }
