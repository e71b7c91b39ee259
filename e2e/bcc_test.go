package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/result"
)

// TestBccInVM runs bcc in VMs from its image (adapters.BccImage: a
// read-only ext4 disk the guest mounts, entered by a static program) on two
// topologies of debian-6.1 with the reference beside it. bcc gets verdicts,
// never an ERROR, and the suite sees in the VM what bcc's source says:
// its clang frontend sizes a perf output table to the number of possible
// CPUs, right where the possible CPUs are 0-N (sparse: SIZE-AUTO PASS) and
// one slot short of CPU 4 where they have a gap (gapped-possible 0-1,4-5:
// SIZE-AUTO FAIL with -E2BIG at CPU 4, and open_perf_buffer cannot file
// the ring of CPU 4 at key 4: RING-CREATE FAIL).
func TestBccInVM(t *testing.T) {
	needVMs(t)
	a, err := adapters.Get("bcc")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AvailableFor("amd64"); err != nil {
		t.Skipf("bcc: %v", err)
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	r := runConform(t, tmp, vmLimit, nil, "run", "--topology", "sparse,gapped-possible", "--kernel", testKernel, "--out", out,
		"--loader", "reference", "--loader", "bcc", "--requirement", "SIZE-AUTO,RING-CREATE,SIZE-EXPLICIT-SMALL", "--gate", "reference")
	if r.exit != 0 {
		t.Fatalf("conform run exited %d, want 0 (--gate reference):\n%s", r.exit, tail(r.stderr, 20))
	}
	doc := readResults(t, out)
	got := map[string]result.Result{}
	for _, res := range doc.Results {
		if res.Status == result.Error {
			t.Errorf("%s %s on %s/%s: ERROR: %s", res.Loader, res.Requirement, res.Kernel, res.Topology, res.Detail)
		}
		got[res.Loader+"/"+res.Topology+"/"+res.Requirement] = res
	}
	for _, tc := range []struct {
		key    string
		status result.Status
		detail string
	}{
		{"reference/sparse/SIZE-AUTO", result.Pass, ""},
		{"reference/gapped-possible/SIZE-AUTO", result.Pass, ""},
		{"bcc/sparse/SIZE-AUTO", result.Pass, "max_entries 4"},
		{"bcc/sparse/RING-CREATE", result.Pass, ""},
		{"bcc/gapped-possible/SIZE-AUTO", result.Fail, "max_entries is 4, want 6"},
		{"bcc/gapped-possible/RING-CREATE", result.Fail, "open_perf_buffer"},
		// bcc sizes explicitly declared perf tables like undeclared ones.
		{"bcc/sparse/SIZE-EXPLICIT-SMALL", result.Fail, "perf_explicit_1: max_entries 4, declared 1"},
	} {
		res, ok := got[tc.key]
		switch {
		case !ok:
			t.Errorf("%s: no result", tc.key)
		case res.Status != tc.status || !strings.Contains(res.Detail, tc.detail):
			t.Errorf("%s: %s %q, want %s with %q", tc.key, res.Status, res.Detail, tc.status, tc.detail)
		}
	}
	if res := got["bcc/gapped-possible/SIZE-AUTO"]; res.CPU == nil || *res.CPU != 4 || res.Errno != "E2BIG" {
		t.Errorf("bcc SIZE-AUTO on gapped-possible: evidence CPU %v errno %q, want CPU 4 and E2BIG", res.CPU, res.Errno)
	}
	if res := got["bcc/sparse/SIZE-AUTO"]; res.LoaderVersion == "" {
		t.Errorf("bcc's results carry no loader version: %+v", res)
	}
}
