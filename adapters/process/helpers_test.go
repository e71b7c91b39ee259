package process_test

import (
	"testing"

	"github.com/cilium/ebpf"
)

func mapMaxEntries(t *testing.T, path string) uint32 {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatalf("pinned map: %v", err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.MaxEntries
}
