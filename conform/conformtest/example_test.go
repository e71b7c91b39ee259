package conformtest_test

import (
	"testing"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/conform/conformtest"
	"github.com/perfconform/perfconform/examples/goloader"
)

// A Go loader project's conformance test file: the suite against its loader
// in-process on this machine, and against its adapter's main package (one
// line: serve.Main(goloader.New())) in a VM. In the project the two
// functions are TestConformanceHost and TestConformanceVMs; examples/goloader
// has exactly this file, and CI runs it.
func Example() {
	_, _ = testConformanceHost, testConformanceVMs
}

func testConformanceHost(t *testing.T) {
	conformtest.Run(t, conform.Plan{
		Host:    true,
		Loaders: []conform.Loader{conform.InProcess(goloader.New())},
	})
}

func testConformanceVMs(t *testing.T) {
	conformtest.Run(t, conform.Plan{
		Loaders:    []conform.Loader{conform.GoAdapter("github.com/perfconform/perfconform/examples/goloader/cmd/adapter")},
		Kernels:    []string{"debian-6.1"},
		Topologies: []string{"sparse"},
	})
}
