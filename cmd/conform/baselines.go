package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/report"
)

// strictBaselinesHelp is the --strict flag's help, shared by every command
// that takes --baseline.
const strictBaselinesHelp = "refuse --baseline files that name unknown requirements, topologies or kernels (default: warn)"

// loadBaselines loads --baseline files checked against the names results
// can carry (report.LoadCheckedBaselines with conform.Names): a deviation
// naming something that does not exist never matches, so it is a warning on
// w, or with strict an error.
func loadBaselines(w io.Writer, paths []string, strict bool) (map[string]report.Baseline, error) {
	bs, problems, err := report.LoadCheckedBaselines(conform.Names(), paths...)
	if strict && len(problems) > 0 {
		return nil, fmt.Errorf("--strict: %w", errors.Join(problems...))
	}
	for _, p := range problems {
		fmt.Fprintf(w, "warning: %v (--strict refuses this)\n", p)
	}
	return bs, err
}
