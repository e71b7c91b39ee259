package doctor_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/doctor"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/reference/topology/topologytest"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/reports"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// fakeMachine is a machine described by files: sysfs masks, the process's
// cgroup line and its cgroup's cpuset (v1 or v2), and an affinity.
type fakeMachine struct {
	masks    topologytest.Masks
	affinity string // "" = same as online
	cgroup   string // the /proc/self/cgroup content; "" = none
	cpuset   map[string]string
}

func (f fakeMachine) options(t *testing.T) doctor.Options {
	t.Helper()
	proc, cg := t.TempDir(), t.TempDir()
	if f.cgroup != "" {
		if err := os.WriteFile(filepath.Join(proc, "cgroup"), []byte(f.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for path, content := range f.cpuset {
		full := filepath.Join(cg, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	aff := f.affinity
	if aff == "" {
		aff = f.masks.Online
	}
	return doctor.Options{
		SysfsRoot:      topologytest.Sysfs(t, f.masks),
		ProcSelf:       proc,
		CgroupRoot:     cg,
		Affinity:       func() (topology.CPUSet, error) { return topology.ParseCPUList(aff) },
		Kernel:         func() (string, string) { return "arm64", "5.10.0-32-cloud-arm64" },
		MemlockCharged: func() bool { return true },
	}
}

func classify(m result.Masks) []string {
	var out []string
	for _, c := range topology.ClassesOfLists(m.Possible, m.Present, m.Online, m.Affinity) {
		out = append(out, string(c))
	}
	return out
}

// TestDoctorOnFakeMachines: every class, read from fake sysfs and cgroup
// trees, and the causes of the committed results that fail on such a
// machine.
func TestDoctorOnFakeMachines(t *testing.T) {
	committed, err := reports.Results()
	if err != nil {
		t.Fatal(err)
	}
	up, err := reports.Upstream()
	if err != nil {
		t.Fatal(err)
	}
	// The suite's current levels: SIZE-KV-DEFAULT is a SHOULD now, though
	// the committed results were judged when it was a MUST.
	opts := report.Options{Classify: classify, Upstream: up, Levels: suite.Levels()}
	v2 := "0::/kubepods/pod1/ctr\n"
	for _, tc := range []struct {
		name    string
		machine fakeMachine
		classes []topology.Class
		// causes that must be named (a loader version and a requirement of
		// each), and loader/requirement pairs that must not
		want, notWant []string
	}{
		{"dense 4 CPUs", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}},
			[]topology.Class{topology.ClassSeveralOnline},
			[]string{"aya: MUST: RING-EXPLICIT-SMALL", "libbpf@1.1…1.5 (3 versions): SHOULD: SIZE-KV-DEFAULT"},
			[]string{"RING-KEY", "MUST: SIZE-AUTO"}},
		{"sparse online", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0,2-3"}},
			[]topology.Class{topology.ClassSparseOnline, topology.ClassPresentOffline, topology.ClassPossibleOverOnline, topology.ClassSeveralOnline},
			[]string{"cilium-ebpf@v0.16.0…v0.22.0 (4 versions): MUST: RING-DELIVER, RING-KEY", "cilium/ebpf#2100 (issue, open, 2026-12-06)",
				"MAY: RING-HOTPLUG-ONLINE"},
			[]string{"MUST: SIZE-AUTO"}},
		{"gapped possible", fakeMachine{masks: topologytest.Masks{Possible: "0,2", Present: "0", Online: "0"}},
			[]topology.Class{topology.ClassGappedPossible, topology.ClassPossibleOverPresent, topology.ClassPossibleOverOnline, topology.ClassOneOnline},
			[]string{"libbpf@1.1…1.5 (3 versions): MUST: SIZE-AUTO", "aya: MUST: SIZE-AUTO", "cilium-ebpf@v0.12.3…v0.22.0 (6 versions): MUST: RING-ATTRIBUTE"},
			[]string{"aya: MUST: RING-EXPLICIT-SMALL", "cilium-ebpf@v0.16.0…v0.22.0"}},
		{"hotplug slots", fakeMachine{masks: topologytest.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}},
			[]topology.Class{topology.ClassPossibleOverPresent, topology.ClassPossibleOverOnline, topology.ClassSeveralOnline},
			[]string{"aya: MUST: RING-EXPLICIT-SMALL"},
			[]string{"RING-KEY", "MUST: SIZE-AUTO", "RING-HOTPLUG-ONLINE"}},
		{"cgroup v2 cpuset below online", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"},
			cgroup: v2, cpuset: map[string]string{"kubepods/pod1/ctr/cpuset.cpus.effective": "2-3"}},
			[]topology.Class{topology.ClassAffinityBelowOnline, topology.ClassSeveralOnline}, nil, []string{"RING-KEY"}},
		{"cgroup v1 cpuset below online", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"},
			cgroup: "12:cpuset:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", cpuset: map[string]string{"cpuset/docker/abc/cpuset.effective_cpus": "1"}},
			[]topology.Class{topology.ClassAffinityBelowOnline, topology.ClassSeveralOnline}, nil, nil},
		{"affinity below online", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}, affinity: "0"},
			[]topology.Class{topology.ClassAffinityBelowOnline, topology.ClassSeveralOnline}, nil, nil},
		{"cpuset equal to online", fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"},
			cgroup: v2, cpuset: map[string]string{"kubepods/pod1/ctr/cpuset.cpus.effective": "0-3"}},
			[]topology.Class{topology.ClassSeveralOnline}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := doctor.Read(tc.machine.options(t))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Classes, tc.classes) {
				t.Errorf("classes %q, want %q", m.Classes, tc.classes)
			}
			if len(m.Notes) > 0 && tc.machine.cgroup != "" {
				t.Errorf("notes: %q", m.Notes)
			}
			var buf bytes.Buffer
			if err := doctor.Diagnose(m, committed, opts).WriteText(&buf, "test results"); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			fails := out[strings.Index(out, "from test results"):]
			if i := strings.Index(fails, "seen only on topologies"); i >= 0 {
				fails = fails[:i]
			}
			for _, w := range tc.want {
				if !strings.Contains(fails, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(fails, w) {
					t.Errorf("output names %q, which does not fail on this machine:\n%s", w, out)
				}
			}
			for _, w := range []string{"arm64, kernel 5.10.0-32-cloud-arm64", "BPF memory charged to RLIMIT_MEMLOCK: yes (probed)"} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

func TestDoctorNeedsTheMasks(t *testing.T) {
	opts := fakeMachine{masks: topologytest.Masks{Possible: "0-3", Present: topologytest.Missing, Online: "0-3"}}.options(t)
	if _, err := doctor.Read(opts); err == nil || !strings.Contains(err.Error(), "present") {
		t.Errorf("Read without a present mask: %v, want an error naming it", err)
	}
}

// TestDoctorThisMachine reads the real machine: whatever it is, its masks
// parse and it has the one-or-several-CPUs class.
func TestDoctorThisMachine(t *testing.T) {
	m, err := doctor.Read(doctor.Options{MemlockCharged: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Classes, topology.ClassOneOnline) && !slices.Contains(m.Classes, topology.ClassSeveralOnline) {
		t.Errorf("classes %q: neither one nor several online CPUs", m.Classes)
	}
}
