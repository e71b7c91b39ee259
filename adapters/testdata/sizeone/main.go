// Command sizeone is a wrong loader built on cilium/ebpf: it forces
// max_entries 1 on every perf event array, so only CPU 0 has a slot. On a
// host with two or more CPUs, output from CPU 1 fails with E2BIG.
package main

import "github.com/perfconform/perfconform/adapters/internal/ciliumload"

func main() { ciliumload.FixedSizeMain("sizeone", 1) }
