package topology

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultSysfsRoot is where Linux publishes the CPU masks.
const DefaultSysfsRoot = "/sys/devices/system/cpu"

// maxMaskFileSize bounds how much of a mask file is read. A CPU list for 8192
// CPUs with every other one online is under 40 KiB; anything larger is not a
// CPU list, and reading it whole could exhaust memory.
const maxMaskFileSize = 256 << 10

// ErrCPUDetection is wrapped by every error about reading the CPU topology
// (file missing, unreadable, too large, or not a CPU list).
var ErrCPUDetection = errors.New("CPU detection failed")

// Mask names one of the sysfs CPU masks.
type Mask string

const (
	Possible Mask = "possible"
	Present  Mask = "present"
	Online   Mask = "online"
)

// Topology is the three masks as read at one moment.
type Topology struct {
	Possible, Present, Online CPUSet
}

// Read reads possible, present and online under root (DefaultSysfsRoot when
// empty). The first failure is returned; it names the file.
func Read(root string) (Topology, error) {
	var t Topology
	var err error
	if t.Possible, err = ReadMask(root, Possible); err != nil {
		return Topology{}, err
	}
	if t.Present, err = ReadMask(root, Present); err != nil {
		return Topology{}, err
	}
	if t.Online, err = ReadMask(root, Online); err != nil {
		return Topology{}, err
	}
	return t, nil
}

// ReadPossible reads the possible mask under root (DefaultSysfsRoot when empty).
func ReadPossible(root string) (CPUSet, error) { return ReadMask(root, Possible) }

// ReadOnline reads the online mask under root (DefaultSysfsRoot when empty).
func ReadOnline(root string) (CPUSet, error) { return ReadMask(root, Online) }

// ReadMask reads and parses root/mask. Errors wrap ErrCPUDetection (and
// ErrBadCPUList for syntax) and name the file.
func ReadMask(root string, mask Mask) (CPUSet, error) {
	if root == "" {
		root = DefaultSysfsRoot
	}
	return ReadCPUListFile(filepath.Join(root, string(mask)))
}

// ReadCPUListFile reads and parses one CPU-list file.
func ReadCPUListFile(path string) (CPUSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return CPUSet{}, fmt.Errorf("%w: %w", ErrCPUDetection, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMaskFileSize+1))
	if err != nil {
		return CPUSet{}, fmt.Errorf("%w: read %s: %w", ErrCPUDetection, path, err)
	}
	if len(data) > maxMaskFileSize {
		return CPUSet{}, fmt.Errorf("%w: %s is larger than %d bytes: not a CPU list", ErrCPUDetection, path, maxMaskFileSize)
	}
	set, err := ParseCPUList(string(data))
	if err != nil {
		return CPUSet{}, fmt.Errorf("%w: %s: %w", ErrCPUDetection, path, err)
	}
	return set, nil
}

// PerfArraySize is the max_entries a perf event array needs so that every
// possible CPU has a slot at its own id: highest possible id + 1, not the
// number of possible CPUs ("0-1,4-5" needs 6).
func PerfArraySize(possible CPUSet) uint32 {
	return uint32(possible.Highest() + 1)
}

// RingCPUs are the CPUs a perf reader opens rings on for a map of maxEntries:
// the online CPUs whose id has a slot in the map and is a possible CPU.
// Offline possible CPUs are skipped, not errors: they have no ring to open.
func RingCPUs(t Topology, maxEntries uint32) CPUSet {
	limit := int(maxEntries)
	if h := t.Possible.Highest() + 1; h < limit {
		limit = h
	}
	return t.Online.Below(limit)
}
