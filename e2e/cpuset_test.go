package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/result"
)

// TestAffinityCountCaughtOnCpuset: the affinitycount control (cilium/ebpf
// sizing auto-sized perf arrays by its sched_getaffinity count) FAILs
// SIZE-AUTO on the cpuset topology, where the session wrapper restricts it
// to CPUs 0-1 of four (an array of 2, want 4, and the kernel refuses output
// on CPU 2 with E2BIG), and PASSes on 4cpu, where it may run on every CPU.
// The reference beside it, in-process and unrestricted, PASSes both, and
// its results carry no loader affinity while the control's on cpuset do.
func TestAffinityCountCaughtOnCpuset(t *testing.T) {
	needVMs(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	r := runConform(t, tmp, vmLimit, nil, "run", "--topology", "cpuset,4cpu", "--kernel", testKernel, "-j", "1", "--out", out,
		"--loader", "reference", "--loader", control(t, "affinitycount"), "--requirement", "SIZE-AUTO", "--gate", "reference")
	if r.exit != 0 {
		t.Errorf("conform run exited %d, want 0 (--gate reference)", r.exit)
	}
	doc := readResults(t, out)
	got := map[string]result.Result{}
	for _, res := range doc.Results {
		got[res.Loader+"/"+res.Topology] = res
	}
	for _, tc := range []struct {
		key      string
		status   result.Status
		detail   string
		affinity string
	}{
		{"affinitycount/cpuset", result.Fail, "max_entries is 2, want 4", "0-1"},
		{"affinitycount/4cpu", result.Pass, "", ""},
		{"reference/cpuset", result.Pass, "", ""},
		{"reference/4cpu", result.Pass, "", ""},
	} {
		res, ok := got[tc.key]
		switch {
		case !ok:
			t.Errorf("%s: no SIZE-AUTO result", tc.key)
		case res.Requirement != "SIZE-AUTO" || res.Status != tc.status || !strings.Contains(res.Detail, tc.detail):
			t.Errorf("%s: %s %s %q, want SIZE-AUTO %s with %q", tc.key, res.Requirement, res.Status, res.Detail, tc.status, tc.detail)
		case res.Masks == nil || res.Masks.Affinity != tc.affinity:
			t.Errorf("%s: masks %+v, want loader affinity %q", tc.key, res.Masks, tc.affinity)
		}
	}
	if res := got["affinitycount/cpuset"]; res.CPU == nil || *res.CPU < 2 || res.Errno != "E2BIG" {
		t.Errorf("affinitycount/cpuset: evidence CPU %v errno %q, want a CPU past the array's end (2 or 3) and E2BIG", res.CPU, res.Errno)
	}
}

// TestAffinityCountCaughtOnHost: on the host, `--loader-cpus 0` runs every
// adapter with its affinity restricted to CPU 0 (taskset's restriction; no
// cgroup on the host): affinitycount then sizes an array of 1 where this
// machine needs highest possible CPU + 1, and FAILs SIZE-AUTO with E2BIG on
// CPU 1; without the flag it PASSes. The in-process reference is not
// restricted and PASSes both.
func TestAffinityCountCaughtOnHost(t *testing.T) {
	needHost(t)
	if online := onlineCPUList(t); online == "0" {
		t.Skip("needs two online CPUs")
	}
	wrong := control(t, "affinitycount")
	for _, tc := range []struct {
		name     string
		args     []string
		status   result.Status
		detail   string
		affinity string
	}{
		{"restricted", []string{"--loader-cpus", "0"}, result.Fail, "max_entries is 1, want", "0"},
		{"every CPU", nil, result.Pass, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			args := append([]string{"run", "--host", "--loader", "reference", "--loader", wrong, "--requirement", "SIZE-AUTO",
				"--gate", "reference", "--out", out}, tc.args...)
			if r := runConform(t, dir, 3*time.Minute, nil, args...); r.exit != 0 {
				t.Fatalf("exit %d, want 0 (--gate reference); stderr:\n%s", r.exit, r.stderr)
			}
			for _, res := range readResults(t, out).Results {
				want, detail, affinity := result.Pass, "", ""
				if res.Loader == "affinitycount" {
					want, detail, affinity = tc.status, tc.detail, tc.affinity
				}
				if res.Status != want || !strings.Contains(res.Detail, detail) || res.Masks == nil || res.Masks.Affinity != affinity {
					t.Errorf("%s %s: %s %q masks %+v, want %s with %q, loader affinity %q", res.Loader, res.Requirement, res.Status, res.Detail, res.Masks, want, detail, affinity)
				}
			}
		})
	}
}

func onlineCPUList(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
