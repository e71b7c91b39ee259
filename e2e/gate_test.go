package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// TestReportGateTrustsOnlyWhatItCanVouchFor (issue 24, item 6): report
// gate's default gates every loader the runs list, so a run that lists a
// loader without any result of it fails the gate (exit 1); results with a
// requirement ID the suite does not have, or two results for one cell, are
// refused as input errors (exit 2) naming the entries.
func TestReportGateTrustsOnlyWhatItCanVouchFor(t *testing.T) {
	pass := func(loader, req string) result.Result {
		return result.Result{Requirement: req, Level: result.Must, Status: result.Pass, Loader: loader, LoaderVersion: "1",
			Kernel: "debian-6.1", Topology: "sparse", Detail: "fine"}
	}
	doc := func(loaders []string, results ...result.Result) *report.Results {
		r := report.Run{Kernel: report.Kernel{Name: "debian-6.1", Version: "6.1.0-28-cloud-amd64"}, Topology: "sparse", Realized: true,
			Accelerator: "tcg", Started: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
		for _, l := range loaders {
			r.Loaders = append(r.Loaders, report.Loader{Name: l, Version: "1"})
		}
		return &report.Results{Generated: r.Started, Runs: []report.Run{r}, Results: results}
	}
	for _, tc := range []struct {
		name   string
		doc    *report.Results
		args   []string
		exit   int
		stderr string
	}{
		{"every listed loader has results", doc([]string{"reference", "aya"}, pass("reference", "SIZE-AUTO"), pass("aya", "SIZE-AUTO")), nil, 0, ""},
		{"a listed loader without results", doc([]string{"reference", "aya"}, pass("reference", "SIZE-AUTO")), nil, 1,
			"gate: debian-6.1/sparse/aya: the run lists this loader but it has no results there"},
		{"the same, gating the reference", doc([]string{"reference", "aya"}, pass("reference", "SIZE-AUTO")), []string{"--loader", "reference"}, 0, ""},
		{"unknown requirement", doc([]string{"reference"}, pass("reference", "SIZE-AUTO"), pass("reference", "RING-KEYY")), nil, 2,
			`requirement "RING-KEYY" is unknown`},
		{"duplicate cell", doc([]string{"reference"}, pass("reference", "SIZE-AUTO"), pass("reference", "SIZE-AUTO")), nil, 2,
			"results[1] repeats results[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := report.WriteFile(filepath.Join(dir, "results.json"), tc.doc); err != nil {
				t.Fatal(err)
			}
			r := runConform(t, dir, time.Minute, nil, append([]string{"report", "gate", dir}, tc.args...)...)
			if r.exit != tc.exit || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.exit, r.stderr, tc.exit, tc.stderr)
			}
		})
	}
}
