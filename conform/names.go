package conform

import (
	"slices"
	"strings"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// Names are the names results can carry, for checking baselines
// (report.LoadCheckedBaselines, report.Baseline.Check): the suite's
// requirement IDs, the topology catalog plus "host" (the topology of a host
// run), the kernel catalog plus kernel image paths.
func Names() report.Names {
	return report.Names{
		Requirement: func(id string) bool { _, ok := suite.RequirementByID(id); return ok },
		Topology: func(name string) bool {
			_, err := topology.Get(name)
			return err == nil || name == kernel.Host
		},
		Kernel: func(name string) bool { return slices.Contains(kernel.Names(), name) || strings.Contains(name, "/") },
	}
}
