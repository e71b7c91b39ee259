// Package bpfsys issues the one bpf(2) command perfconform must own itself:
// BPF_MAP_CREATE for perf event arrays. cilium/ebpf's own map creation rewrites
// perf event arrays (it clamps explicit sizes and refuses gapped possible
// lists), so the reference loader and the suite (which pins "foreign" arrays
// of a chosen size) create them themselves and hand the fd to
// ebpf.NewMapFromFD.
//
// It also owns the process's RLIMIT_MEMLOCK for BPF objects (memlock.go):
// whether the kernel charges BPF memory to it (before Linux 5.11), raising it
// once when it does, and the limit it had before, for child processes.
package bpfsys

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

const cmdMapCreate = 0 // BPF_MAP_CREATE

// mapCreateAttr is the BPF_MAP_CREATE part of union bpf_attr, up to map_extra.
// Fields the reference never sets stay zero, which the kernel reads as "unset".
type mapCreateAttr struct {
	mapType               uint32
	keySize               uint32
	valueSize             uint32
	maxEntries            uint32
	mapFlags              uint32
	innerMapFD            uint32
	numaNode              uint32
	mapName               [unix.BPF_OBJ_NAME_LEN]byte
	mapIfindex            uint32
	btfFD                 uint32
	btfKeyTypeID          uint32
	btfValueTypeID        uint32
	btfVmlinuxValueTypeID uint32
	mapExtra              uint64
}

// MapCreate is what BPF_MAP_CREATE needs for a map without BTF.
type MapCreate struct {
	Type       uint32
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	Name       string
}

// CreateMap creates the map and returns its fd. Names are cut to the kernel's
// 15 characters and characters the kernel refuses are replaced by '_', as the
// name is only a debugging aid; pin paths carry the full name.
func CreateMap(m MapCreate) (int, error) {
	attr := mapCreateAttr{
		mapType:    m.Type,
		keySize:    m.KeySize,
		valueSize:  m.ValueSize,
		maxEntries: m.MaxEntries,
		mapFlags:   m.Flags,
	}
	copy(attr.mapName[:unix.BPF_OBJ_NAME_LEN-1], sanitizeName(m.Name))
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmdMapCreate, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&attr)
	if errno != 0 {
		return -1, fmt.Errorf("BPF_MAP_CREATE: %w", errno)
	}
	return int(fd), nil
}

func sanitizeName(name string) []byte {
	out := []byte(name)
	for i, c := range out {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
		if !ok {
			out[i] = '_'
		}
	}
	return out
}
