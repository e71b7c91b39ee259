// Package rawmap creates perf event arrays with exactly the max_entries asked
// for, as *ebpf.Map. cilium/ebpf clamps a perf event array's MaxEntries to the
// possible CPUs (MapSpec fixups), which would silently repair the wrong sizes
// the negative-control loaders in adapters/testdata exist to show; they create
// their arrays here, through internal/bpfsys (the project's one BPF_MAP_CREATE).
package rawmap

import (
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// PerfEventArray creates a BPF_MAP_TYPE_PERF_EVENT_ARRAY with 4-byte keys and
// values and maxEntries slots, named name.
func PerfEventArray(name string, maxEntries uint32) (*ebpf.Map, error) {
	fd, err := bpfsys.CreateMap(bpfsys.MapCreate{
		Type:       unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: maxEntries,
		Name:       name,
	})
	if err != nil {
		return nil, fmt.Errorf("perf event array %s with max_entries %d: %w", name, maxEntries, err)
	}
	m, err := ebpf.NewMapFromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("perf event array %s: %w", name, err)
	}
	return m, nil
}
