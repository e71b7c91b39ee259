package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/report"
)

// equivalenceKernel is the kernel TestScheduleEquivalenceVMs boots
// (PERFCONFORM_EQUIVALENCE_KERNEL overrides it): 6.1 realizes every quick
// topology, hotplug slots included.
const equivalenceKernel = "debian-6.1"

// builtinMatrix is every built-in loader, as scripts/test.sh's quick matrix
// runs them.
var builtinMatrix = []string{"reference", "cilium-ebpf", "libbpf", "libbpf@1.4", "bpftool", "bpftool@7.5", "libbpfgo", "aya"}

// equivalenceControls are the negative controls that run in the VMs of
// TestScheduleEquivalenceVMs: every wrong loader and every broken adapter
// whose cost is bounded by what it does. hang (never ready) and ignorestop
// (never stops) cost a whole ready or shutdown timeout per load in a serial
// run, and badversion is refused before any VM boots; the three are
// compared on the host with short timeouts (suite.TestSideBySideMatchesSerial,
// "protocol").
var equivalenceControls = []string{"hardcode32", "sizeone", "keyplus1", "offlinefail",
	"crash", "garbage", "earlyexit", "exit3", "badready", "orphan"}

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
		args = append(args, "--loader", name)
	}
	for _, name := range equivalenceControls {
		args = append(args, "--loader", control(t, name))
	}
	tmp := t.TempDir()
	cells := map[string]map[string]string{}
	for _, schedule := range []string{"serial", "side-by-side"} {
		out := filepath.Join(tmp, schedule)
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
		if b, ok := side[cell]; !ok || b != s {
			diff = append(diff, fmt.Sprintf("%s: serial %s, side by side %s", cell, s, orMissing(b)))
		}
	}
	for cell, b := range side {
		if _, ok := serial[cell]; !ok {
			diff = append(diff, fmt.Sprintf("%s: serial missing, side by side %s", cell, b))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("%d of %d cells differ:\n%s", len(diff), len(serial), strings.Join(diff, "\n"))
	}
	t.Logf("%d cells, identical status in both schedules", len(serial))
}

// statusCells maps "kernel topology loader requirement" to the status and,
// for a FAIL or ERROR, its detail (shown when a cell differs).
func statusCells(doc *report.Results) map[string]string {
	out := map[string]string{}
	for _, r := range doc.Results {
		out[fmt.Sprintf("%s %s %s %s", r.Kernel, r.Topology, r.Loader, r.Requirement)] = string(r.Status)
	}
	return out
}

func orMissing(s string) string {
	if s == "" {
		return "missing"
	}
	return s
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
