package bpfsys

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/kversion"
)

// On a kernel with memory cgroup accounting (5.11+) the probe says so and
// RaiseMemlock leaves the limit alone. The pre-5.11 half (charged, raised to
// unlimited, the old limit remembered) needs a 5.10 kernel: see
// e2e/memlock_test.go.
func TestMemlockOnThisKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loads a BPF program: run as root")
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	series, err := kversion.Parse(release)
	if err != nil {
		t.Fatal(err)
	}
	wantCharged := series.Compare(kversion.MustParse("5.11")) < 0
	if got := MemlockCharged(); got != wantCharged {
		t.Fatalf("MemlockCharged on %s = %v, want %v", release, got, wantCharged)
	}
	if wantCharged {
		t.Skipf("kernel %s charges memlock: raising it here would change this test process for good", release)
	}
	var before, after unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &before); err != nil {
		t.Fatal(err)
	}
	if err := RaiseMemlock(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("RaiseMemlock on %s changed RLIMIT_MEMLOCK %+v -> %+v; want it left alone", release, before, after)
	}
	if _, raised := MemlockBeforeRaise(); raised {
		t.Errorf("MemlockBeforeRaise reports a raise on %s", release)
	}
}
