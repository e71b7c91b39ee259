package vmtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// TestUnexpectedFailures: a topology declared not realizable on a kernel
// (hotplug-slots on 6.12) fails as expected when it was not booted or the
// guest confirmed it, but a broken VM, or the same error on a kernel where
// the topology is realizable, is a failure.
func TestUnexpectedFailures(t *testing.T) {
	slots, _ := topology.Get("hotplug-slots")
	sparse, _ := topology.Get("sparse")
	const k612, k61 = "6.12.43+deb13-amd64", "6.1.0-37-amd64"
	notRealized := fmt.Errorf("masks differ: %w", ErrTopologyNotRealized)
	for _, tc := range []struct {
		name    string
		top     topology.Topology
		release string
		err     error
		want    bool
	}{
		{"realized", sparse, k612, nil, false},
		{"declared, not booted", slots, k612, fmt.Errorf("hotplug-slots: %w", ErrNotRealizable), false},
		{"declared, booted and confirmed", slots, k612, notRealized, false},
		{"declared, but the VM timed out", slots, k612, errors.Join(notRealized, ErrTimeout), true},
		{"declared, but no done", slots, k612, errors.Join(notRealized, ErrNoDone), true},
		{"declared, but QEMU failed", slots, k612, ErrQEMU, true},
		{"declared, other error", slots, k612, ErrGuest, true},
		{"realizable on this kernel", slots, k61, notRealized, true},
		{"never declared", sparse, k612, notRealized, true},
	} {
		r := VMResult{Kernel: kernel.Kernel{Release: tc.release}, Err: tc.err}
		if got := unexpected(tc.top, r); got != tc.want {
			t.Errorf("%s: unexpected = %v, want %v", tc.name, got, tc.want)
		}
	}
}
