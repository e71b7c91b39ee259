// The go.mod adapters/cilium-ebpf is built with for cilium/ebpf v0.19.0
// (go build -modfile=adapters/cilium-ebpf/versions/v0.19.0.mod; see
// adapters/versions.go): exactly that release, with the golang.org/x/sys
// it requires itself. Only the adapter's packages are built with it.
module github.com/perfconform/perfconform

go 1.26

require (
	github.com/cilium/ebpf v0.19.0
	golang.org/x/sys v0.31.0
)
