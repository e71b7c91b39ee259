module github.com/perfconform/perfconform/adapters/libbpfgo

go 1.26

require (
	github.com/aquasecurity/libbpfgo v0.4.6-libbpf-1.1.0
	github.com/perfconform/perfconform v0.0.0
)

require github.com/stretchr/testify v1.12.1 // indirect

// The adapter is built from the perfconform tree it lives in.
replace github.com/perfconform/perfconform => ../..
