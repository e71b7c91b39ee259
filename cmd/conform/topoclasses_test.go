package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/doctor"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/reference/topology/topologytest"
	"github.com/perfconform/perfconform/vmtest/guest"
	vmtopology "github.com/perfconform/perfconform/vmtest/topology"
)

// TestDoctorAgreesWithCatalog: for every realizable expectation of every VM
// topology, `conform doctor` run by a loader on such a machine (its masks in
// a fake sysfs; on a restricted topology, cpuset's, the loaders' cgroup v2
// cpuset and affinity as the guest and the session wrapper set them) names
// exactly the classes the reports give that loader's results there
// (conform.ClassifyMasks of the masks they carry). So a root cause found on
// cpuset is matched by doctor on a machine whose affinity is below online.
func TestDoctorAgreesWithCatalog(t *testing.T) {
	sawAffinity := false
	for _, top := range vmtopology.All() {
		for _, e := range top.Expect {
			if e.NotRealizable != "" {
				continue
			}
			m := e.Masks
			proc, cg := t.TempDir(), t.TempDir()
			affinity := m.Online
			if m.Affinity != "" {
				affinity = m.Affinity
				if err := os.WriteFile(filepath.Join(proc, "cgroup"), []byte("0::/"+guest.LoaderCgroupName+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(cg, guest.LoaderCgroupName)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "cpuset.cpus.effective"), []byte(m.Affinity+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			machine, err := doctor.Read(doctor.Options{
				SysfsRoot: topologytest.Sysfs(t, topologytest.Masks{Possible: m.Possible, Present: m.Present, Online: m.Online}),
				ProcSelf:  proc, CgroupRoot: cg,
				Affinity:       func() (topology.CPUSet, error) { return topology.ParseCPUList(affinity) },
				Kernel:         func() (string, string) { return "amd64", "6.1.0-57-cloud-amd64" },
				MemlockCharged: func() bool { return false },
			})
			if err != nil {
				t.Fatalf("%s: %v", top.Name, err)
			}
			var got []string
			for _, c := range machine.Classes {
				got = append(got, string(c))
			}
			want := conform.ClassifyMasks(m)
			if !slices.Equal(got, want) {
				t.Errorf("%s (≥%s %s): doctor names %q, the reports %q", top.Name, e.Series, e.Arch, got, want)
			}
			if hasAff := slices.Contains(want, string(topology.ClassAffinityBelowOnline)); hasAff != (m.Affinity != "") {
				t.Errorf("%s: classes %q, loader affinity %q", top.Name, want, m.Affinity)
			} else if hasAff {
				sawAffinity = true
			}
		}
	}
	if !sawAffinity {
		t.Error("no catalog topology restricts the loaders' affinity")
	}
}
