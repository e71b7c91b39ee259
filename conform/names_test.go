package conform_test

import (
	"testing"

	"github.com/perfconform/perfconform/conform"
)

// TestNames: what a baseline may name is what results carry — the suite's
// requirements, the catalog topologies and "host", the catalog kernels and
// image paths — and nothing else.
func TestNames(t *testing.T) {
	n := conform.Names()
	for _, tc := range []struct {
		kind, name string
		known      func(string) bool
		want       bool
	}{
		{"requirement", "RING-KEY", n.Requirement, true},
		{"requirement", "SIZE-AUTO", n.Requirement, true},
		{"requirement", "RING-002", n.Requirement, false},
		{"topology", "sparse", n.Topology, true},
		{"topology", "host", n.Topology, true},
		{"topology", "hotplug-8", n.Topology, false},
		{"kernel", "debian-6.1", n.Kernel, true},
		{"kernel", "/boot/vmlinuz-6.18", n.Kernel, true},
		{"kernel", "debian-4.19", n.Kernel, false},
	} {
		if got := tc.known(tc.name); got != tc.want {
			t.Errorf("%s %q known = %v, want %v", tc.kind, tc.name, got, tc.want)
		}
	}
}
