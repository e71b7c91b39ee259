package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// SMP holds the fields of QEMU's -smp option. Zero fields are left out so
// QEMU derives them.
type SMP struct {
	CPUs    int // CPUs present and started at boot
	MaxCPUs int // CPU slots including hotpluggable ones
	Sockets int
	Cores   int
	Threads int
}

// Slots is the number of CPU slots the machine has: MaxCPUs or CPUs.
func (s SMP) Slots() int {
	return max(s.CPUs, s.MaxCPUs)
}

// String is the -smp argument, e.g. "2,maxcpus=8".
func (s SMP) String() string {
	parts := []string{strconv.Itoa(s.CPUs)}
	add := func(key string, v int) {
		if v > 0 {
			parts = append(parts, key+"="+strconv.Itoa(v))
		}
	}
	add("maxcpus", s.MaxCPUs)
	add("sockets", s.Sockets)
	add("cores", s.Cores)
	add("threads", s.Threads)
	return strings.Join(parts, ",")
}

// Validate rejects settings QEMU would refuse, so the error names the field
// instead of surfacing as a QEMU exit status.
func (s SMP) Validate() error {
	if s.CPUs < 1 {
		return fmt.Errorf("smp: cpus %d: %w", s.CPUs, ErrBadConfig)
	}
	if s.MaxCPUs != 0 && s.MaxCPUs < s.CPUs {
		return fmt.Errorf("smp: maxcpus %d < cpus %d: %w", s.MaxCPUs, s.CPUs, ErrBadConfig)
	}
	if s.Sockets != 0 && s.Cores != 0 && s.Threads != 0 {
		if n := s.Sockets * s.Cores * s.Threads; n != s.Slots() {
			return fmt.Errorf("smp: sockets*cores*threads = %d, want %d: %w", n, s.Slots(), ErrBadConfig)
		}
	}
	return nil
}
