// Command thirdparty stands in for a loader project's own adapter in the
// reusable workflow's test (internal/workflowrun): it declares
// "loader":"myloader" while the file a project builds is named
// perfconform-adapter, so results must be filed under the declared name.
// Inside it is a wrong loader with one known deviation on a single CPU
// (cilium/ebpf with every perf array created with max_entries 1: fine for
// one CPU, but a value_size the kernel's fixed-size array ignores goes
// unnoticed, SIZE-BAD), which the caller's baseline accepts.
package main

import "github.com/perfconform/perfconform/adapters/internal/ciliumload"

func main() { ciliumload.FixedSizeMain("myloader", 1) }
