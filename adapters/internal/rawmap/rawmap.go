// Package rawmap creates perf event arrays with exactly the max_entries asked
// for, with BPF_MAP_CREATE directly. cilium/ebpf clamps a perf event array's
// MaxEntries to the possible CPUs (MapSpec fixups), which would silently
// repair the wrong sizes the negative-control loaders in adapters/testdata
// exist to show; they create their arrays here instead.
package rawmap

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// mapCreateAttr is the prefix of union bpf_attr used by BPF_MAP_CREATE, up to
// and including map_name; the kernel treats the missing tail as zero.
type mapCreateAttr struct {
	mapType    uint32
	keySize    uint32
	valueSize  uint32
	maxEntries uint32
	mapFlags   uint32
	innerMapFD uint32
	numaNode   uint32
	mapName    [unix.BPF_OBJ_NAME_LEN]byte
	_          uint32 // padding to 8-byte alignment
}

// PerfEventArray creates a BPF_MAP_TYPE_PERF_EVENT_ARRAY with 4-byte keys and
// values and maxEntries slots, named name (truncated to 15 bytes).
func PerfEventArray(name string, maxEntries uint32) (*ebpf.Map, error) {
	attr := mapCreateAttr{
		mapType:    unix.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
		keySize:    4,
		valueSize:  4,
		maxEntries: maxEntries,
	}
	copy(attr.mapName[:unix.BPF_OBJ_NAME_LEN-1], name)
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return nil, fmt.Errorf("BPF_MAP_CREATE perf event array %s with max_entries %d: %w", name, maxEntries, errno)
	}
	m, err := ebpf.NewMapFromFD(int(fd))
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("perf event array %s: %w", name, err)
	}
	return m, nil
}
