package goloader_test

import (
	"testing"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/conform/conformtest"
	"github.com/perfconform/perfconform/examples/goloader"
)

// The suite against the loader in this process, on this machine (root).
func TestConformanceHost(t *testing.T) {
	conformtest.Run(t, conform.Plan{
		Host:    true,
		Loaders: []conform.Loader{conform.InProcess(goloader.New())},
	})
}

// The suite against the loader's adapter (cmd/adapter, built for the guest)
// in a VM: Debian's 6.1 kernel with four CPUs, cpu1 offline.
func TestConformanceVMs(t *testing.T) {
	conformtest.Run(t, conform.Plan{
		Loaders:    []conform.Loader{conform.GoAdapter("github.com/perfconform/perfconform/examples/goloader/cmd/adapter")},
		Kernels:    []string{"debian-6.1"},
		Topologies: []string{"sparse"},
	})
}
