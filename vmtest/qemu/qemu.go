// Package qemu builds QEMU command lines from structured fields and runs
// QEMU so that nothing outlives its caller.
//
// A Machine has two serial lines: the kernel console (arch.Arch.Console),
// written to a file, and the event channel (arch.Arch.EventDevice), wired to
// QEMU's standard output so the host reads it live. On amd64 (QEMU's pc
// machine) they are the 8250 ports ttyS0 and ttyS1, built into every kernel
// we boot. On arm64 (QEMU's virt machine, which has one PL011 UART) the
// console is ttyAMA0 and the event channel a virtconsole port on a
// virtio-serial-pci device (/dev/hvc0). QEMU runs in its own process group
// with a parent-death signal: a timeout, an error, a cancelled context or
// the death of the caller kills the group.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/perfconform/perfconform/vmtest/arch"
)

var (
	// ErrBadConfig: the Machine cannot be turned into a command line.
	ErrBadConfig = errors.New("bad qemu machine config")
	// ErrNoQEMU: the QEMU binary is not installed.
	ErrNoQEMU = errors.New("qemu not found")
)

// DefaultBinary is the QEMU system emulator for amd64 guests; BinaryFor
// names the one for each architecture.
const DefaultBinary = "qemu-system-x86_64"

// archSpec is what QEMU's command line needs per guest architecture.
type archSpec struct {
	binary string // the system emulator
	pkg    string // the Debian package that ships it
	// machine returns the -M and -cpu arguments for an accelerator.
	machine func(accel string, s SMP) []string
	// events wires chardev "events" to the guest's EventDevice.
	events []string
}

var specs = map[string]archSpec{
	arch.Amd64.Name: {
		binary: DefaultBinary, pkg: "qemu-system-x86",
		machine: func(accel string, _ SMP) []string {
			if accel == AccelKVM {
				return []string{"-cpu", "host"}
			}
			return nil
		},
		events: []string{"-serial", "chardev:events"}, // ttyS1
	},
	arch.Arm64.Name: {
		binary: "qemu-system-aarch64", pkg: "qemu-system-arm",
		machine: func(accel string, s SMP) []string {
			// The virt machine's default GICv2 addresses at most 8 CPUs.
			m := "virt"
			if s.Slots() > 8 {
				m += ",gic-version=3"
			}
			// Under TCG, -cpu max emulates pointer authentication, which
			// made QEMU 7.2 boot ~3x slower; the suite does not need it.
			cpu := "max,pauth=off"
			if accel == AccelKVM {
				cpu = "host"
			}
			return []string{"-M", m, "-cpu", cpu}
		},
		// hvc0: QEMU 7.2's virt machine has a single PL011, and
		// virtio-serial-device (MMIO) did not come up on 6.1 or 6.12.
		events: []string{"-device", "virtio-serial-pci,id=vser", "-device", "virtconsole,chardev=events,bus=vser.0"},
	},
}

func specFor(a arch.Arch) (archSpec, arch.Arch, error) {
	if a.Name == "" {
		a = arch.Amd64
	}
	s, ok := specs[a.Name]
	if !ok {
		return archSpec{}, a, fmt.Errorf("%w: no QEMU machine for architecture %q", ErrBadConfig, a.Name)
	}
	return s, a, nil
}

// BinaryFor is the QEMU system emulator for guests of architecture a.
func BinaryFor(a arch.Arch) string {
	if s, _, err := specFor(a); err == nil {
		return s.binary
	}
	return DefaultBinary
}

// noQEMU says which package to install for a missing binary.
func noQEMU(binary string) error {
	pkg := "qemu-system-x86"
	for _, s := range specs {
		if s.binary == binary {
			pkg = s.pkg
		}
	}
	return fmt.Errorf("%w: %s: install %s (apt-get install %s)", ErrNoQEMU, binary, pkg, pkg)
}

// Accelerators.
const (
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
	AccelAuto = "auto" // resolved by AutoAccel before a Machine is built
)

// Machine is one VM's QEMU configuration.
type Machine struct {
	// Arch is the guest architecture; the zero value means arch.Amd64.
	Arch      arch.Arch
	Binary    string   // QEMU binary; BinaryFor(Arch) when empty
	Accel     string   // AccelKVM or AccelTCG
	SMP       SMP      // -smp
	MemoryMiB int      // -m; MemoryFor(SMP) when zero
	Kernel    string   // -kernel: a bzImage, or an arm64 Image
	Initrd    string   // -initrd
	Append    []string // kernel arguments after console=<Arch.Console> panic=-1
	// ConsoleLog is the file the kernel console is written to.
	ConsoleLog string
	// Disks are raw disk images attached read-only as virtio-blk devices,
	// in order (the guest's /dev/vda, /dev/vdb, ...).
	Disks []string
	// Extra arguments are appended verbatim.
	Extra []string
}

// MemoryFor sizes guest memory to the topology: 256 MiB plus 16 MiB per CPU
// slot, enough for per-CPU kernel data and perf rings on every CPU.
func MemoryFor(s SMP) int {
	return 256 + 16*s.Slots()
}

// BaseKernelArgs come first on every command line: the console on the
// architecture's first serial port and an immediate reboot on panic, which
// -no-reboot turns into QEMU's exit.
func BaseKernelArgs(a arch.Arch) []string {
	if a.Name == "" {
		a = arch.Amd64
	}
	return []string{"console=" + a.Console, "panic=-1"}
}

// Args returns the QEMU arguments (without the binary).
func (m Machine) Args() ([]string, error) {
	if err := m.SMP.Validate(); err != nil {
		return nil, err
	}
	spec, a, err := specFor(m.Arch)
	if err != nil {
		return nil, err
	}
	if m.Kernel == "" {
		return nil, fmt.Errorf("%w: no kernel", ErrBadConfig)
	}
	if m.ConsoleLog == "" {
		return nil, fmt.Errorf("%w: no console log path", ErrBadConfig)
	}
	if strings.ContainsAny(m.ConsoleLog, ",") {
		return nil, fmt.Errorf("%w: console log path %q contains a comma", ErrBadConfig, m.ConsoleLog)
	}
	for _, d := range m.Disks {
		if d == "" || strings.ContainsAny(d, ",") {
			return nil, fmt.Errorf("%w: disk image path %q is empty or contains a comma", ErrBadConfig, d)
		}
	}
	mem := m.MemoryMiB
	if mem == 0 {
		mem = MemoryFor(m.SMP)
	}
	args := []string{
		"-nodefaults", "-no-reboot", "-display", "none",
	}
	switch m.Accel {
	case AccelKVM, AccelTCG:
		args = append(args, "-accel", m.Accel)
		args = append(args, spec.machine(m.Accel, m.SMP)...)
	default:
		return nil, fmt.Errorf("%w: accelerator %q (want %s or %s)", ErrBadConfig, m.Accel, AccelKVM, AccelTCG)
	}
	args = append(args,
		"-smp", m.SMP.String(),
		"-m", strconv.Itoa(mem),
		"-kernel", m.Kernel,
	)
	if m.Initrd != "" {
		args = append(args, "-initrd", m.Initrd)
	}
	args = append(args, "-append", strings.Join(append(BaseKernelArgs(a), m.Append...), " "))
	args = append(args,
		// The first serial port: the console, into a file.
		"-chardev", "file,id=console,path="+m.ConsoleLog,
		"-serial", "chardev:console",
		// The event channel, on QEMU's stdout.
		"-chardev", "stdio,id=events,signal=off",
	)
	args = append(args, spec.events...)
	for _, d := range m.Disks {
		// Read-only: one image serves every VM running at once.
		args = append(args, "-drive", "file="+d+",if=virtio,format=raw,readonly=on")
	}
	return append(args, m.Extra...), nil
}

// BootTimeout is how long a guest may take from QEMU's start to its first
// event. Measured under TCG: ~3 s for one CPU, ~20 s for 32; the budget is
// generous because other work shares the host's cores. scale multiplies it.
func BootTimeout(accel string, s SMP, scale float64) time.Duration {
	d := 30*time.Second + 2*time.Second*time.Duration(s.Slots())
	if accel == AccelKVM {
		d = 15*time.Second + 250*time.Millisecond*time.Duration(s.Slots())
	}
	return scaled(d, scale)
}

func scaled(d time.Duration, scale float64) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	return time.Duration(float64(d) * scale)
}

// VM is a running QEMU process.
type VM struct {
	cmd    *exec.Cmd
	events *os.File
	stderr *tailBuffer

	waitOnce sync.Once
	waitErr  error
	done     chan struct{}
}

// Start starts QEMU for m. Cancelling ctx kills QEMU's process group. The
// caller must read Events until EOF and call Wait.
func Start(ctx context.Context, m Machine) (*VM, error) {
	args, err := m.Args()
	if err != nil {
		return nil, err
	}
	bin := m.Binary
	if bin == "" {
		bin = BinaryFor(m.Arch)
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, noQEMU(bin)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("qemu event pipe: %w", err)
	}
	vm := &VM{stderr: newTailBuffer(16 << 10), done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = nil // /dev/null: the event chardev never reads a terminal
	cmd.Stdout = pw
	cmd.Stderr = vm.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	pw.Close()
	vm.cmd = cmd
	vm.events = pr
	return vm, nil
}

// killGroup kills the process group led by pid: QEMU and anything it forked.
func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill qemu process group %d: %w", pid, err)
	}
	return nil
}

// Pid is QEMU's process id.
func (vm *VM) Pid() int { return vm.cmd.Process.Pid }

// Events is the guest's event channel byte stream; it ends when QEMU exits.
func (vm *VM) Events() io.Reader { return vm.events }

// Kill kills QEMU's process group at once.
func (vm *VM) Kill() error { return killGroup(vm.cmd.Process.Pid) }

// Wait waits for QEMU to exit and releases its resources. The error carries
// QEMU's exit status and the tail of its standard error. Wait may be called
// more than once.
func (vm *VM) Wait() error {
	vm.waitOnce.Do(func() {
		err := vm.cmd.Wait()
		// Whatever happened, no process of the group may survive.
		_ = killGroup(vm.cmd.Process.Pid)
		vm.events.Close()
		if err != nil {
			if tail := strings.TrimSpace(vm.stderr.String()); tail != "" {
				err = fmt.Errorf("qemu: %w; stderr: %s", err, tail)
			} else {
				err = fmt.Errorf("qemu: %w", err)
			}
		}
		vm.waitErr = err
		close(vm.done)
	})
	return vm.waitErr
}

// Stderr returns the tail of QEMU's standard error so far.
func (vm *VM) Stderr() string { return vm.stderr.String() }

// tailBuffer keeps the last n bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = bytes.Clone(t.buf[len(t.buf)-t.n:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Version returns the first line of `qemu --version`.
func Version(ctx context.Context, binary string) (string, error) {
	if binary == "" {
		binary = DefaultBinary
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", noQEMU(binary)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}
