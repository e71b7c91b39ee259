// Package arch names the guest architectures perfconform boots VMs of and
// holds what differs between them outside QEMU's command line: the Go and
// Debian architecture name, the multiarch library directory, the ELF machine
// of its executables, the kernel console and the guest device the event
// channel runs on.
//
// The architecture of a VM is its kernel's (kernel.Kernel.Arch): the guest
// binary, the adapters and their libraries are built or taken for it.
package arch

import (
	"debug/elf"
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// ErrUnknown: no supported architecture has that name or ELF machine.
var ErrUnknown = errors.New("unknown architecture")

// Arch is one guest architecture.
type Arch struct {
	// Name is both the Debian architecture and GOARCH: "amd64", "arm64".
	Name string
	// Triplet is the GNU multiarch triplet: library directories
	// (/usr/lib/<triplet>) and cross tools (<triplet>-gcc) use it.
	Triplet string
	// Machine is the ELF e_machine of its executables.
	Machine elf.Machine
	// Console is the kernel console device (console= on the command line):
	// the first serial port QEMU gives the machine.
	Console string
	// EventDevice is the guest path of the event channel (package event),
	// a second serial line wired to QEMU's standard output.
	EventDevice string
}

// The architectures perfconform boots.
var (
	// Amd64 guests run on QEMU's pc machine: two 8250 UARTs, ttyS0 the
	// console, ttyS1 the event channel.
	Amd64 = Arch{Name: "amd64", Triplet: "x86_64-linux-gnu", Machine: elf.EM_X86_64,
		Console: "ttyS0", EventDevice: "/dev/ttyS1"}
	// Arm64 guests run on QEMU's virt machine, which has a single PL011
	// UART (ttyAMA0, the console); the event channel is a virtio console
	// port (/dev/hvc0) on a virtio-serial-pci device.
	Arm64 = Arch{Name: "arm64", Triplet: "aarch64-linux-gnu", Machine: elf.EM_AARCH64,
		Console: "ttyAMA0", EventDevice: "/dev/hvc0"}
)

var all = []Arch{Amd64, Arm64}

// All returns the supported architectures.
func All() []Arch { return append([]Arch(nil), all...) }

// Names returns the names of the supported architectures.
func Names() []string {
	out := make([]string, len(all))
	for i, a := range all {
		out[i] = a.Name
	}
	return out
}

// Get returns the architecture called name; "" is the host's.
func Get(name string) (Arch, error) {
	if name == "" {
		return Host()
	}
	for _, a := range all {
		if a.Name == name {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("%w %q (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Host returns the architecture this binary runs on.
func Host() (Arch, error) {
	return Get(runtime.GOARCH)
}

// IsHost says whether a is the architecture this binary runs on.
func (a Arch) IsHost() bool { return a.Name == runtime.GOARCH }

// OfELF returns the architecture of an ELF file's machine.
func OfELF(path string) (Arch, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Arch{}, fmt.Errorf("architecture of %s: %w", path, err)
	}
	defer f.Close()
	for _, a := range all {
		if a.Machine == f.Machine {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("%w: %s is an ELF file for %v", ErrUnknown, path, f.Machine)
}

func (a Arch) String() string { return a.Name }
