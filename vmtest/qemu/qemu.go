// Package qemu builds QEMU command lines from structured fields and runs
// QEMU so that nothing outlives its caller.
//
// A Machine has two 8250 serial ports, both built into every kernel we boot:
// ttyS0 is the kernel console, written to a file, and ttyS1 is the event
// channel, wired to QEMU's standard output so the host reads it live. QEMU
// runs in its own process group with a parent-death signal: a timeout, an
// error, a cancelled context or the death of the caller kills the group.
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
)

var (
	// ErrBadConfig: the Machine cannot be turned into a command line.
	ErrBadConfig = errors.New("bad qemu machine config")
	// ErrNoQEMU: the QEMU binary is not installed.
	ErrNoQEMU = errors.New("qemu not found")
)

// DefaultBinary is the QEMU system emulator for the guests we boot.
const DefaultBinary = "qemu-system-x86_64"

// Accelerators.
const (
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
	AccelAuto = "auto" // resolved by AutoAccel before a Machine is built
)

// Machine is one VM's QEMU configuration.
type Machine struct {
	Binary    string   // QEMU binary; DefaultBinary when empty
	Accel     string   // AccelKVM or AccelTCG
	SMP       SMP      // -smp
	MemoryMiB int      // -m; MemoryFor(SMP) when zero
	Kernel    string   // -kernel: a bzImage
	Initrd    string   // -initrd
	Append    []string // kernel arguments after console=ttyS0 panic=-1
	// ConsoleLog is the file ttyS0 (the kernel console) is written to.
	ConsoleLog string
	// Extra arguments are appended verbatim.
	Extra []string
}

// MemoryFor sizes guest memory to the topology: 256 MiB plus 16 MiB per CPU
// slot, enough for per-CPU kernel data and perf rings on every CPU.
func MemoryFor(s SMP) int {
	return 256 + 16*s.Slots()
}

// BaseKernelArgs come first on every command line: the console on ttyS0 and
// an immediate reboot on panic, which -no-reboot turns into QEMU's exit.
var BaseKernelArgs = []string{"console=ttyS0", "panic=-1"}

// Args returns the QEMU arguments (without the binary).
func (m Machine) Args() ([]string, error) {
	if err := m.SMP.Validate(); err != nil {
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
	mem := m.MemoryMiB
	if mem == 0 {
		mem = MemoryFor(m.SMP)
	}
	args := []string{
		"-nodefaults", "-no-reboot", "-display", "none",
	}
	switch m.Accel {
	case AccelKVM:
		args = append(args, "-accel", "kvm", "-cpu", "host")
	case AccelTCG:
		args = append(args, "-accel", "tcg")
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
	args = append(args, "-append", strings.Join(append(append([]string{}, BaseKernelArgs...), m.Append...), " "))
	args = append(args,
		// ttyS0: the console, into a file.
		"-chardev", "file,id=console,path="+m.ConsoleLog,
		"-serial", "chardev:console",
		// ttyS1: the event channel, on QEMU's stdout.
		"-chardev", "stdio,id=events,signal=off",
		"-serial", "chardev:events",
	)
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
		bin = DefaultBinary
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: install qemu-system-x86 (apt-get install qemu-system-x86)", ErrNoQEMU, bin)
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

// Events is the guest's ttyS1 byte stream; it ends when QEMU exits.
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
		return "", fmt.Errorf("%w: %s: install qemu-system-x86 (apt-get install qemu-system-x86)", ErrNoQEMU, binary)
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
