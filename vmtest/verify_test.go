package vmtest_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
)

// TestWriteVerifyTable: `conform topologies verify` shows each VM's masks
// ("-" for one the guest never read), whether they matched, its boot and
// total time to 100 ms and the first line of its error, and counts only the
// failed verdicts: a topology that is not realized where it is declared not
// to be is not counted.
func TestWriteVerifyTable(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k61 := kernel.Kernel{Release: "6.1.0-57-cloud-amd64"}
	res := []vmtest.TopologyVerdict{
		{VMResult: vmtest.VMResult{Kernel: k61, Topology: "1cpu", Accelerator: "tcg", Realized: true,
			Masks:   result.Masks{Possible: "0", Present: "0", Online: "0"},
			Started: start, Booted: start.Add(4777 * time.Millisecond), Ended: start.Add(4812 * time.Millisecond)}},
		{VMResult: vmtest.VMResult{Kernel: k61, Topology: "sparse", Accelerator: "tcg",
			Masks:   result.Masks{Possible: "0-3", Online: "0,2"},
			Started: start, Booted: start.Add(5 * time.Second), Ended: start.Add(9960 * time.Millisecond),
			Err: fmt.Errorf("masks differ: present %q\nwant %q: %w", "", "0-3", vmtest.ErrTopologyNotRealized)}, Failed: true},
		{VMResult: vmtest.VMResult{Kernel: kernel.Kernel{Release: "6.12.43+deb13-amd64"}, Topology: "hotplug-slots",
			Err: fmt.Errorf("hotplug-slots: %w", vmtest.ErrNotRealizable)}},
		{VMResult: vmtest.VMResult{Kernel: k61, Topology: "cpuset", Accelerator: "tcg", Realized: true,
			Masks:   result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3", Affinity: "0-1"},
			Started: start, Booted: start.Add(4777 * time.Millisecond), Ended: start.Add(4812 * time.Millisecond)}},
		{VMResult: vmtest.VMResult{Kernel: k61, Topology: "smt", Accelerator: "tcg", Started: start, Ended: start.Add(time.Minute),
			Err: errors.Join(errors.New("no booted event"), vmtest.ErrTimeout)}, Failed: true},
	}
	want := [][]string{
		{"KERNEL", "TOPOLOGY", "ACCEL", "POSSIBLE", "PRESENT", "ONLINE", "LOADER CPUS", "REALIZED", "BOOT", "TOTAL", "ERROR"},
		{"6.1.0-57-cloud-amd64", "1cpu", "tcg", "0", "0", "0", "-", "true", "4.8s", "4.8s", "-"},
		{"6.1.0-57-cloud-amd64", "sparse", "tcg", "0-3", "-", "0,2", "-", "false", "5s", "10s", `masks differ: present ""`},
		{"6.12.43+deb13-amd64", "hotplug-slots", "", "-", "-", "-", "-", "false", "0s", "0s", "hotplug-slots: topology not realizable on this kernel"},
		{"6.1.0-57-cloud-amd64", "cpuset", "tcg", "0-3", "0-3", "0-3", "0-1", "true", "4.8s", "4.8s", "-"},
		{"6.1.0-57-cloud-amd64", "smt", "tcg", "-", "-", "-", "-", "false", "0s", "1m0s", "no booted event"},
	}
	var out strings.Builder
	failed, err := vmtest.WriteVerifyTable(&out, res)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 2 {
		t.Errorf("failed = %d, want 2 (sparse, smt)", failed)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	cols := regexp.MustCompile(`\s{2,}`)
	for i, l := range lines {
		got := cols.Split(strings.TrimRight(l, " "), -1)
		if i == 3 { // an empty ACCEL cell is blank padding
			want[i] = append(want[i][:2], want[i][3:]...)
		}
		if strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("line %d: %q\nwant cells %q", i, l, want[i])
		}
	}
}
