package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// strictBaselinesHelp is the --strict flag's help, shared by every command
// that takes --baseline.
const strictBaselinesHelp = "refuse --baseline files that name unknown requirements, topologies or kernels (default: warn)"

// catalogNames are the names results can carry: the suite's requirement IDs,
// the topology catalog plus "host" (a --host run), the kernel catalog plus
// image paths.
func catalogNames() report.Names {
	return report.Names{
		Requirement: func(id string) bool { _, ok := suite.RequirementByID(id); return ok },
		Topology: func(name string) bool {
			_, err := topology.Get(name)
			return err == nil || name == kernel.Host
		},
		Kernel: func(name string) bool { return slices.Contains(kernel.Names(), name) || strings.Contains(name, "/") },
	}
}

// loadBaselines loads --baseline files checked against catalogNames
// (report.LoadCheckedBaselines): a deviation naming something that does not
// exist never matches, so it is a warning on w, or with strict an error.
func loadBaselines(w io.Writer, paths []string, strict bool) (map[string]report.Baseline, error) {
	bs, problems, err := report.LoadCheckedBaselines(catalogNames(), paths...)
	if strict && len(problems) > 0 {
		return nil, fmt.Errorf("--strict: %w", errors.Join(problems...))
	}
	for _, p := range problems {
		fmt.Fprintf(w, "warning: %v (--strict refuses this)\n", p)
	}
	return bs, err
}
