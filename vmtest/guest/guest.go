// Package guest is the PID-1 side of a perfconform VM.
//
// The static conform binary runs as /init. Main mounts the pseudo file
// systems, reads the config the host appended to the initramfs, applies the
// topology's guest actions (taking CPUs offline, bind-mounting a synthetic
// possible file, making the loaders' cpuset cgroup), reads the CPU masks
// (and that cgroup's effective CPUs) back and compares them with what the
// topology expects on this kernel. Only when they match does it run the
// payload; every step is reported on the event channel (ttyS1 on amd64,
// hvc0 on arm64: arch.Arch.EventDevice), which ends with a done event, and
// then the VM powers off. Kernel modules the host listed in the config (the
// virtio console of a kernel that builds it as a module) are loaded first.
//
// A panic in the payload is reported as an error event and no done event is
// written, so the host sees the run as broken; a kernel panic or a hang shows
// up on the host as a missing done event too.
package guest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/nswrap"
	cpulist "github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/topology"
)

const (
	// ConfigPath is where the host puts the guest config in the initramfs.
	ConfigPath = "/perfconform/config.json"
	// ProbeMarker is written to the console by a probe guest before it
	// powers off; the host's KVM probe looks for it.
	ProbeMarker = "perfconform: kvm probe ok"
	// GuestArg is what the host puts after "--" on the kernel command line so
	// the kernel starts /init (the conform binary) as `/init guest`.
	GuestArg = "guest"
	// CPURoot is the sysfs directory of the CPU masks.
	CPURoot = "/sys/devices/system/cpu"
)

var (
	// ErrTopologyNotRealized: the masks read in the guest differ from the
	// topology's expectation for this kernel.
	ErrTopologyNotRealized = errors.New("topology not realized")
	// ErrGuestAction: a topology guest action failed.
	ErrGuestAction = errors.New("guest action failed")
)

// Config is written by the host and read by the guest.
type Config struct {
	Kernel      string            `json:"kernel"`      // catalog name the host booted
	Topology    topology.Topology `json:"topology"`    // the whole entry, expectations included
	Accelerator string            `json:"accelerator"` // what QEMU runs the guest with
	Args        []string          `json:"args,omitempty"`
	// Files maps the guest path of every file in the initramfs to its host source.
	Files map[string]string `json:"files,omitempty"`
	// Probe guests only print ProbeMarker and power off.
	Probe bool `json:"probe,omitempty"`
	// Modules are guest paths of kernel modules to load, in order, before
	// the event channel is opened.
	Modules []string `json:"modules,omitempty"`
	// Disks are mounted read-only after the modules, before the payload.
	Disks []Disk `json:"disks,omitempty"`
}

// Disk is a block device the guest mounts read-only.
type Disk struct {
	Device string `json:"device"` // /dev/vda
	FSType string `json:"fstype"` // built into the kernel
	Mount  string `json:"mount"`
}

// Env is what a payload learns about its VM.
type Env struct {
	Topology    topology.Topology
	Kernel      string // catalog name
	Release     string // uname -r
	Accelerator string
	Masks       result.Masks // as realized
	Args        []string     // Config.Args
	Files       map[string]string
	// LoaderCgroup is the cgroup whose cpuset holds the topology's
	// LoaderCPUs (for the session wrapper to join), when it has any.
	LoaderCgroup string
}

// Payload is the work a VM exists for (the conformance suite). It reports
// through emit; the error it returns becomes an error event. Events must not
// be KindDone: the guest writes done itself after the payload returns.
type Payload func(ctx context.Context, env Env, emit func(event.Event)) error

// Main runs the guest as PID 1 and powers the VM off; it never returns.
// Outside PID 1 it refuses to touch anything (it would mount file systems
// and power the machine off) and exits with status 2.
func Main(payload Payload) {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "perfconform guest: refusing to run: not PID 1 (this command is the init of a perfconform VM)")
		os.Exit(2)
	}
	console := setupConsole()
	fail := func(format string, args ...any) {
		fmt.Fprintf(console, "perfconform guest: "+format+"\n", args...)
		powerOff(console)
	}

	mountErrs := mountAll()
	for _, err := range mountErrs {
		fmt.Fprintf(console, "perfconform guest: %v\n", err)
	}

	cfg, err := readConfig(ConfigPath)
	if err != nil {
		fail("%v", err)
	}
	if cfg.Probe {
		fmt.Fprintln(console, ProbeMarker)
		powerOff(console)
	}

	if err := loadModules(cfg.Modules); err != nil {
		fail("%v", err)
	}
	tty, err := openEventChannel(eventDevice())
	if err != nil {
		fail("%v", err)
	}
	w := event.NewWriter(tty)
	emit := func(e event.Event) {
		if err := w.Emit(e); err != nil {
			fmt.Fprintf(console, "perfconform guest: %v\n", err)
		}
	}
	for _, err := range mountErrs {
		emit(event.Error("%v", err))
	}
	if err := mountDisks(cfg.Disks); err != nil {
		emit(event.Error("%v", err))
	}

	status := Run(context.Background(), cfg, CPURoot, payload, emit)
	if status != Panicked {
		emit(event.Event{Kind: event.KindDone})
	}
	drain(tty)
	powerOff(console)
}

// Status says how Run ended.
type Status int

const (
	// Completed: the payload ran and returned (an error it returned has
	// been emitted).
	Completed Status = iota
	// NotRealized: the topology was not realized; the payload did not run.
	NotRealized
	// Panicked: the payload panicked; no done event may follow.
	Panicked
)

// Run is the guest's work after the mounts: booted, guest actions, realized,
// payload. cpuRoot is the sysfs CPU directory (a fake tree in tests).
func Run(ctx context.Context, cfg Config, cpuRoot string, payload Payload, emit func(event.Event)) Status {
	release := kernelRelease()
	emit(event.Event{Kind: event.KindBooted, Booted: &event.Booted{Kernel: cfg.Kernel, Release: release, Topology: cfg.Topology.Name}})

	masks, expected, err := Realize(cfg.Topology, release, cpuRoot)
	if err != nil {
		emit(event.Event{Kind: event.KindRealized, Realized: &event.Realized{Masks: masks, Expected: expected, Match: false}})
		emit(event.Error("%v", err))
		return NotRealized
	}
	emit(event.Event{Kind: event.KindRealized, Realized: &event.Realized{Masks: masks, Expected: expected, Match: true}})

	env := Env{
		Topology: cfg.Topology, Kernel: cfg.Kernel, Release: release, Accelerator: cfg.Accelerator,
		Masks: masks, Args: cfg.Args, Files: cfg.Files,
	}
	if cfg.Topology.LoaderCPUs != "" {
		env.LoaderCgroup = LoaderCgroupDir(cpuRoot)
	}
	payloadEmit := func(e event.Event) {
		if e.Kind == event.KindDone {
			emit(event.Error("payload emitted done; the guest writes done itself"))
			return
		}
		emit(e)
	}
	panicked, err := runPayload(ctx, payload, env, payloadEmit)
	if panicked != nil {
		emit(event.Error("payload panicked: %v\n%s", panicked.value, panicked.stack))
		return Panicked
	}
	if err != nil {
		emit(event.Error("payload: %v", err))
	}
	return Completed
}

type panicInfo struct {
	value any
	stack []byte
}

func runPayload(ctx context.Context, payload Payload, env Env, emit func(event.Event)) (p *panicInfo, err error) {
	defer func() {
		if v := recover(); v != nil {
			p = &panicInfo{value: v, stack: debug.Stack()}
		}
	}()
	return nil, payload(ctx, env, emit)
}

// Realize applies t's guest actions under cpuRoot, reads the masks back and
// compares them with t's expectation for the kernel release. The error wraps
// ErrTopologyNotRealized (masks differ, or the topology is not realizable on
// this kernel) or ErrGuestAction.
func Realize(t topology.Topology, release, cpuRoot string) (got, want result.Masks, err error) {
	exp, expErr := t.ExpectFor(runtime.GOARCH, release)
	want = exp.Masks
	if expErr != nil && !errors.Is(expErr, topology.ErrNotRealizable) {
		return got, want, expErr
	}
	affinity, actErr := applyActions(t, cpuRoot)
	got, readErr := ReadMasks(cpuRoot)
	got.Affinity = affinity
	switch {
	case readErr != nil:
		return got, want, readErr
	case actErr != nil:
		return got, want, fmt.Errorf("%w: %w", ErrTopologyNotRealized, actErr)
	case expErr != nil:
		return got, want, fmt.Errorf("%w: %w", ErrTopologyNotRealized, expErr)
	case got != want:
		return got, want, fmt.Errorf("%w: topology %s on %s: possible %q present %q online %q loader affinity %q, want possible %q present %q online %q loader affinity %q",
			ErrTopologyNotRealized, t.Name, release, got.Possible, got.Present, got.Online, got.Affinity, want.Possible, want.Present, want.Online, want.Affinity)
	}
	return got, want, nil
}

// ReadMasks reads possible, present and online under cpuRoot with the same
// parser the suite and the reference loader use, in canonical CPU-list form.
func ReadMasks(cpuRoot string) (result.Masks, error) {
	t, err := cpulist.Read(cpuRoot)
	if err != nil {
		return result.Masks{}, fmt.Errorf("read CPU masks: %w", err)
	}
	return result.Masks{Possible: t.Possible.String(), Present: t.Present.String(), Online: t.Online.String()}, nil
}

// applyActions takes CPUs offline, bind-mounts the synthetic possible file
// and makes the loaders' cpuset cgroup, whose effective CPUs it returns.
func applyActions(t topology.Topology, cpuRoot string) (affinity string, err error) {
	var errs []error
	for _, cpu := range t.Offline {
		p := filepath.Join(cpuRoot, "cpu"+strconv.Itoa(cpu), "online")
		if err := os.WriteFile(p, []byte("0"), 0); err != nil {
			errs = append(errs, fmt.Errorf("%w: take CPU %d offline: %w", ErrGuestAction, cpu, err))
		}
	}
	if t.PossibleOverride != "" {
		if err := bindPossible(t.PossibleOverride, cpuRoot); err != nil {
			errs = append(errs, err)
		}
	}
	if t.LoaderCPUs != "" {
		dir := LoaderCgroupDir(cpuRoot)
		_, effective, err := nswrap.CpusetCgroup(filepath.Dir(dir), filepath.Base(dir), t.LoaderCPUs)
		if err == nil {
			var set cpulist.CPUSet
			if set, err = cpulist.ParseCPUList(effective); err == nil {
				affinity = set.String()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: loaders' CPUs %s: %w", ErrGuestAction, t.LoaderCPUs, err))
		}
	}
	return affinity, errors.Join(errs...)
}

// CgroupRoot is where the guest mounts cgroup v2, and LoaderCgroupName the
// cgroup under it whose cpuset restricts the loaders of a topology with
// LoaderCPUs; the suite (PID 1) stays in the root cgroup, unrestricted.
const (
	CgroupRoot       = "/sys/fs/cgroup"
	LoaderCgroupName = "perfconform-loaders"
)

// LoaderCgroupDir is the loaders' cgroup for the CPU directory cpuRoot: under
// CgroupRoot, or beside a fake tree (tests).
func LoaderCgroupDir(cpuRoot string) string {
	if cpuRoot != CPURoot {
		return filepath.Join(filepath.Dir(cpuRoot), "cgroup", LoaderCgroupName)
	}
	return filepath.Join(CgroupRoot, LoaderCgroupName)
}

// PossibleOverrideFile holds the synthetic possible mask that is
// bind-mounted over cpuRoot/possible.
const PossibleOverrideFile = "/run/perfconform/possible"

func bindPossible(contents, cpuRoot string) error {
	src := PossibleOverrideFile
	if cpuRoot != CPURoot {
		// A fake tree (tests): keep the source beside it.
		src = filepath.Join(filepath.Dir(cpuRoot), "possible-override")
	}
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return fmt.Errorf("%w: synthetic possible file: %w", ErrGuestAction, err)
	}
	if err := os.WriteFile(src, []byte(contents), 0o444); err != nil {
		return fmt.Errorf("%w: synthetic possible file: %w", ErrGuestAction, err)
	}
	dst := filepath.Join(cpuRoot, "possible")
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("%w: bind-mount %s over %s: %w", ErrGuestAction, src, dst, err)
	}
	return nil
}

func readConfig(path string) (Config, error) {
	var cfg Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("guest config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("guest config %s: %w", path, err)
	}
	return cfg, nil
}

func kernelRelease() string {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(uts.Release[:])
}

// mounts are the pseudo file systems every guest gets, in order.
var mounts = []struct {
	source, target, fstype string
	required               bool
}{
	{"devtmpfs", "/dev", "devtmpfs", true},
	{"proc", "/proc", "proc", true},
	{"sysfs", "/sys", "sysfs", true},
	{"tmpfs", "/tmp", "tmpfs", true},
	{"tmpfs", "/run", "tmpfs", true},
	{"bpf", "/sys/fs/bpf", "bpf", true},
	{"tracefs", "/sys/kernel/tracing", "tracefs", false},
	// cgroup v2 (every kernel we boot has CONFIG_CPUSETS): the cpuset
	// topology's loaders run in a child cgroup with a limited cpuset.
	{"cgroup2", CgroupRoot, "cgroup2", false},
}

func mountAll() []error {
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && m.required {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", m.target, err))
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, 0, "")
		if err != nil && !errors.Is(err, unix.EBUSY) && m.required {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	return errs
}

// setupConsole makes /dev/console the standard streams. The initramfs has
// no device nodes, so the kernel could not open a console for init.
func setupConsole() io.Writer {
	_ = os.MkdirAll("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return io.Discard
	}
	for target := 0; target <= 2; target++ {
		if fd != target {
			_ = unix.Dup3(fd, target, 0)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return os.Stderr
}

// eventDevice is the event channel of the architecture this guest binary
// was built for.
func eventDevice() string {
	a, err := arch.Host()
	if err != nil {
		return arch.Amd64.EventDevice
	}
	return a.EventDevice
}

// loadModules loads kernel modules with finit_module, in order. A module
// the kernel already has (EEXIST) is fine.
func loadModules(paths []string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("load module: %w", err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: finit_module: %w", p, err)
		}
	}
	return nil
}

// diskWait bounds the wait for a disk's device node: the virtio-blk driver
// probes its device, and devtmpfs adds the node, after the module loaded.
const diskWait = 10 * time.Second

// mountDisks mounts each disk read-only at its mount point.
func mountDisks(disks []Disk) error {
	var errs []error
	for _, d := range disks {
		deadline := time.Now().Add(diskWait)
		_, err := os.Stat(d.Device)
		for errors.Is(err, os.ErrNotExist) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			_, err = os.Stat(d.Device)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("disk %s (for %s): %w (after %v)", d.Device, d.Mount, err, diskWait))
			continue
		}
		if err := os.MkdirAll(d.Mount, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("disk %s: %w", d.Device, err))
			continue
		}
		if err := unix.Mount(d.Device, d.Mount, d.FSType, unix.MS_RDONLY, ""); err != nil {
			errs = append(errs, fmt.Errorf("disk %s: mount %s read-only on %s: %w", d.Device, d.FSType, d.Mount, err))
		}
	}
	return errors.Join(errs...)
}

// eventDeviceWait bounds the wait for the event channel: a virtio console
// port is added asynchronously after its driver loads, and until then its
// hvc device node is missing or answers ENODEV/ENXIO.
const eventDeviceWait = 30 * time.Second

func notYet(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

// openEventChannel opens the serial port raw, so "\n" is not turned into
// "\r\n" and nothing is echoed.
func openEventChannel(dev string) (*os.File, error) {
	deadline := time.Now().Add(eventDeviceWait)
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY, 0)
	for notYet(err) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		f, err = os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("event channel: %w", err)
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("event channel %s: get termios: %w", dev, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("event channel %s: set termios: %w", dev, err)
	}
	return f, nil
}

// drain waits until everything written to the serial port has left it
// (tcdrain), so powering off does not cut the last events.
func drain(f *os.File) {
	_ = unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	_ = f.Sync()
}

func powerOff(console io.Writer) {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Still here: exiting PID 1 panics the kernel, and panic=-1 with
	// QEMU's -no-reboot ends the VM either way.
	fmt.Fprintf(console, "perfconform guest: power off: %v\n", err)
	os.Exit(1)
}
