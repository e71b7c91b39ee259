package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// equivalenceKernel is the kernel TestScheduleEquivalenceVMs boots
// (PERFCONFORM_EQUIVALENCE_KERNEL overrides it): 6.1 realizes every quick
// topology, hotplug slots included.
const equivalenceKernel = "debian-6.1"

// builtinMatrix is every built-in loader that runs in VMs, as
// scripts/test.sh's quick matrix runs them (libbpf@1.5 where it links).
var builtinMatrix = []string{"reference", "cilium-ebpf", "libbpf", "libbpf@1.4", "libbpf@1.5", "bpftool", "bpftool@7.5",
	"libbpfgo", "aya", "libbpf-rs"}

// equivalenceControls are the negative controls that run in the VMs of
// TestScheduleEquivalenceVMs: every wrong loader (adapters.Controls with
// WrongLoader), and the broken adapters whose break depends on timing
// against a shared session (crash: dies after ready; earlyexit: leaves
// right after ready). The other broken adapters are compared on the host
// (suite.TestSideBySideMatchesSerial, "protocol": every control, with
// short timeouts), where they cost seconds instead of a serial VM pass
// each.
func equivalenceControls() []string {
	names := []string{"crash", "earlyexit"}
	for _, c := range adapters.Controls {
		if c.WrongLoader {
			names = append(names, c.Name)
		}
	}
	return names
}

// TestScheduleEquivalenceVMs is the proof that running loaders side by side
// (shared loads, one CPU change for every loader) changes no verdict: the
// quick topology set on one kernel, every built-in loader and the
// negative controls, once with --serial (the schedule from before) and once
// side by side; every (kernel, topology, loader, requirement) cell must
// have the same status.
func TestScheduleEquivalenceVMs(t *testing.T) {
	needVMs(t)
	if testing.Short() {
		t.Skip("boots the quick topology set twice: skipped with -short")
	}
	kernel := equivalenceKernel
	if k := os.Getenv("PERFCONFORM_EQUIVALENCE_KERNEL"); k != "" {
		kernel = k
	}
	args := []string{"--topology", "quick", "--kernel", kernel, "--allow-errors", "--gate", "reference"}
	for _, name := range builtinMatrix {
		if a, err := adapters.Get(name); err == nil {
			if err := a.Available(); err != nil {
				t.Logf("%s left out: %v", name, err)
				continue
			}
		}
		args = append(args, "--loader", name)
	}
	for _, name := range equivalenceControls() {
		args = append(args, "--loader", control(t, name))
	}
	tmp := t.TempDir()
	outRoot := tmp
	if keep := os.Getenv("PERFCONFORM_EQUIVALENCE_OUT"); keep != "" {
		outRoot = keep // both runs' output directories are kept there
	}
	cells := map[string]map[string]result.Result{}
	for _, schedule := range []string{"serial", "side-by-side"} {
		out := filepath.Join(outRoot, schedule)
		runArgs := append([]string{"run", "--out", out}, args...)
		if schedule == "serial" {
			runArgs = append(runArgs, "--serial")
		}
		r := runConform(t, tmp, 40*time.Minute, nil, runArgs...)
		if r.exit != 0 {
			t.Fatalf("%s: conform run exited %d:\n%s", schedule, r.exit, tail(r.stderr, 40))
		}
		t.Logf("%s: %s in %v", schedule, lastLine(r.stdout), r.took.Round(time.Second))
		cells[schedule] = statusCells(readResults(t, out))
	}
	serial, side := cells["serial"], cells["side-by-side"]
	if len(serial) == 0 {
		t.Fatal("the serial run gave no results")
	}
	var diff []string
	for cell, s := range serial {
		if b, ok := side[cell]; !ok || b.Status != s.Status {
			diff = append(diff, fmt.Sprintf("%s: serial %s, side by side %s", cell, evidence(s), evidence(b)))
		}
	}
	for cell, b := range side {
		if _, ok := serial[cell]; !ok {
			diff = append(diff, fmt.Sprintf("%s: serial missing, side by side %s", cell, evidence(b)))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("%d of %d cells differ:\n%s", len(diff), len(serial), strings.Join(diff, "\n"))
	}
	t.Logf("%d cells, identical status in both schedules", len(serial))
}

// evidence is a result's status with the start of its detail.
func evidence(r result.Result) string {
	if r.Status == "" {
		return "missing"
	}
	if r.Status == result.Pass || r.Detail == "" {
		return string(r.Status)
	}
	d := r.Detail
	if len(d) > 300 {
		d = d[:300] + "…"
	}
	return fmt.Sprintf("%s (%s)", r.Status, d)
}

// statusCells maps "kernel topology loader requirement" to its result.
func statusCells(doc *report.Results) map[string]result.Result {
	out := map[string]result.Result{}
	for _, r := range doc.Results {
		out[fmt.Sprintf("%s %s %s %s", r.Kernel, r.Topology, r.Loader, r.Requirement)] = r
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
