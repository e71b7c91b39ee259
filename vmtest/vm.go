package vmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
	"github.com/perfconform/perfconform/vmtest/initramfs"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

// ConsoleTailLines is how much console output a failed VM's error carries.
const ConsoleTailLines = 50

// GuestModuleDir is where a kernel's modules (kernel.Kernel.Modules) go in
// the initramfs.
const GuestModuleDir = "/perfconform/modules"

type vmRun struct {
	job       Job
	kernel    kernel.Kernel
	arch      arch.Arch
	accel     string
	outDir    string
	opts      *options
	baseImage initramfs.Image
	report    func(Progress)
	onResult  func(result.Result)
	// disks are attached read-only; diskModules (host paths, in load
	// order) are loaded after the kernel's own modules.
	disks       []Disk
	diskModules []string
}

func (v *vmRun) progress(stage, format string, args ...any) {
	v.report(Progress{Kernel: v.kernel.Name, Topology: v.job.Topology.Name, Stage: stage, Message: fmt.Sprintf(format, args...)})
}

func (v *vmRun) run(ctx context.Context) (res VMResult) {
	res = VMResult{Kernel: v.kernel, Topology: v.job.Topology.Name, Accelerator: v.accel, OutDir: v.outDir}
	defer func() {
		res.Ended = time.Now()
		if res.Err != nil {
			res.ErrorMsg = res.Err.Error()
			v.progress("failed", "%v", firstLine(res.Err.Error()))
		} else {
			v.progress("done", "%d results in %v (boot %v)", len(res.Results), res.Ended.Sub(res.Started).Round(time.Millisecond), res.BootTime().Round(time.Millisecond))
		}
		if err := writeJSON(filepath.Join(v.outDir, "vm.json"), res); err != nil && res.Err == nil {
			res.Err = err
			res.ErrorMsg = err.Error()
		}
	}()
	if err := os.MkdirAll(v.outDir, 0o755); err != nil {
		res.Err = fmt.Errorf("vm out dir: %w", err)
		return res
	}

	exp, expErr := v.job.Topology.ExpectFor(v.arch.Name, v.kernel.Release)
	res.Expected = exp.Masks
	if expErr != nil && !(v.job.BootUnrealizable && errors.Is(expErr, ErrNotRealizable)) {
		// Not realizable here (or no expectation): no VM is booted.
		res.Err = expErr
		return res
	}

	// The work directory holds the VM's initrd (25 MB): locked while the
	// VM runs, so the next Run removes it if this process is killed
	// (removeStaleWorkDirs). A kept one has a name of its own.
	prefix := workDirPrefix
	if v.opts.keep {
		prefix = keptWorkDirPrefix
	}
	work, release, err := filelock.MkdirLocked("", prefix)
	if err != nil {
		res.Err = fmt.Errorf("vm dir: %w", err)
		return res
	}
	defer func() {
		defer release()
		if v.opts.keep {
			v.progress("kept", "%s", work)
			return
		}
		os.RemoveAll(work)
	}()

	cfg := guest.Config{
		Kernel: v.kernel.Name, Topology: v.job.Topology, Accelerator: v.accel,
		Args: v.job.Args, Files: v.baseImage.Files,
	}
	// The kernel's modules, then its disks' (loaded in that order), go
	// into this VM's overlay: the base image is shared by every kernel of
	// the architecture.
	overlay := map[string][]byte{}
	for _, m := range []struct {
		dir   string
		paths []string
	}{{GuestModuleDir, v.kernel.ModuleFiles()}, {GuestModuleDir + "/disk", v.diskModules}} {
		for _, p := range m.paths {
			b, err := os.ReadFile(p)
			if err != nil {
				res.Err = fmt.Errorf("kernel module: %w", err)
				return res
			}
			gp := m.dir + "/" + filepath.Base(p)
			overlay[gp] = b
			cfg.Modules = append(cfg.Modules, gp)
		}
	}
	var diskImages []string
	diskMiB := 0
	for i, d := range v.disks {
		diskImages = append(diskImages, d.Image)
		diskMiB += d.MemoryMiB
		cfg.Disks = append(cfg.Disks, guest.Disk{Device: "/dev/vd" + string(rune('a'+i)), FSType: d.FSType, Mount: d.Mount})
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		res.Err = fmt.Errorf("guest config: %w", err)
		return res
	}
	overlay[guest.ConfigPath] = cfgJSON
	_ = os.WriteFile(filepath.Join(work, "config.json"), cfgJSON, 0o644)
	initrd := filepath.Join(work, "initrd.cpio")
	if err := initramfs.WriteWithOverlay(initrd, v.baseImage.Path, overlay); err != nil {
		res.Err = err
		return res
	}
	consoleLog := filepath.Join(work, "console.log")
	m := qemu.Machine{
		Arch: v.arch, Binary: v.opts.qemuBinary, Accel: v.accel, SMP: v.job.Topology.SMP(),
		MemoryMiB: qemu.MemoryFor(v.job.Topology.SMP()) + initrdMiB(initrd) + diskMiB, Disks: diskImages,
		Kernel: v.kernel.Path, Initrd: initrd, ConsoleLog: consoleLog,
		Append: append(append([]string{}, v.job.Topology.KernelArgs...), "--", guest.GuestArg),
	}
	if args, err := m.Args(); err == nil {
		_ = os.WriteFile(filepath.Join(work, "qemu.args"), []byte(strings.Join(args, "\n")+"\n"), 0o644)
	}

	bootTimeout := qemu.BootTimeout(v.accel, m.SMP, v.opts.timeoutScale)
	payloadTimeout := v.job.PayloadTimeout
	if payloadTimeout == 0 {
		payloadTimeout = DefaultPayloadTimeout(v.accel)
	}
	payloadTimeout = time.Duration(float64(payloadTimeout) * max(v.opts.timeoutScale, 0.01))

	vmCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res.Started = time.Now()
	v.progress("start", "qemu -smp %s, %s, %s", m.SMP, v.accel, v.kernel)
	vm, err := qemu.Start(vmCtx, m)
	if err != nil {
		res.Err = fmt.Errorf("%w: %w", ErrQEMU, err)
		return res
	}
	// Whatever happens below, QEMU is dead and reaped when run returns.
	defer func() { _ = vm.Kill(); _ = vm.Wait() }()

	// Timers: booted must come within bootTimeout, done within
	// payloadTimeout after booted.
	var timerMu sync.Mutex
	timer := time.AfterFunc(bootTimeout, func() {
		cancel(fmt.Errorf("%w: no booted event within %v", ErrTimeout, bootTimeout))
	})
	defer func() { timerMu.Lock(); timer.Stop(); timerMu.Unlock() }()

	events, err := os.Create(filepath.Join(v.outDir, "events.jsonl"))
	if err != nil {
		res.Err = fmt.Errorf("events file: %w", err)
		return res
	}
	defer events.Close()

	var guestErrs []string
	decodeErr := event.Decode(vm.Events(), func(e event.Event) error {
		line, _ := json.Marshal(e)
		if _, err := events.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("events file: %w", err)
		}
		switch e.Kind {
		case event.KindBooted:
			res.Booted = time.Now()
			timerMu.Lock()
			timer.Stop()
			timer = time.AfterFunc(payloadTimeout, func() {
				cancel(fmt.Errorf("%w: no done event within %v after boot", ErrTimeout, payloadTimeout))
			})
			timerMu.Unlock()
			v.progress("booted", "%s in %v", e.Booted.Release, res.BootTime().Round(time.Millisecond))
		case event.KindRealized:
			res.Masks = e.Realized.Masks
			res.Realized = e.Realized.Match
			loaders := ""
			if res.Masks.Affinity != "" {
				loaders = " loaders on " + res.Masks.Affinity
			}
			v.progress("realized", "possible %s present %s online %s%s (match %v)", res.Masks.Possible, res.Masks.Present, res.Masks.Online, loaders, res.Realized)
		case event.KindResult:
			r := *e.Result
			if r.Kernel == "" {
				r.Kernel = v.kernel.Name
			}
			if r.Topology == "" {
				r.Topology = v.job.Topology.Name
			}
			if r.Accelerator == "" {
				r.Accelerator = v.accel
			}
			if r.Masks == nil {
				masks := res.Masks
				r.Masks = &masks
			}
			res.Results = append(res.Results, r)
			v.onResult(r)
		case event.KindLog:
			res.Logs = append(res.Logs, e.Message)
		case event.KindError:
			res.Logs = append(res.Logs, "error: "+e.Message)
			guestErrs = append(guestErrs, e.Message)
		case event.KindDone:
			res.Done = time.Now()
		}
		return nil
	})
	waitErr := vm.Wait()
	_ = events.Sync()
	if err := copyFile(consoleLog, filepath.Join(v.outDir, "console.log")); err != nil && !errors.Is(err, os.ErrNotExist) {
		res.Err = err
	}

	var errs []error
	if cause := context.Cause(vmCtx); cause != nil {
		// Our timeout or the caller's cancellation killed QEMU.
		errs = append(errs, withConsole(cause, consoleLog))
	} else {
		if waitErr != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrQEMU, waitErr))
		}
		if decodeErr != nil {
			if errors.Is(decodeErr, event.ErrMissingDone) {
				errs = append(errs, withConsole(fmt.Errorf("%w: %w", ErrNoDone, decodeErr), consoleLog))
			} else {
				errs = append(errs, decodeErr)
			}
		}
	}
	switch {
	case res.Booted.IsZero() || res.Realized || res.Done.IsZero():
	case expErr != nil:
		errs = append(errs, fmt.Errorf("%w: measured possible %q present %q online %q: %w",
			ErrTopologyNotRealized, res.Masks.Possible, res.Masks.Present, res.Masks.Online, expErr))
	default:
		errs = append(errs, fmt.Errorf("%w: %s on %s: got possible %q present %q online %q loader CPUs %q, want %q %q %q %q",
			ErrTopologyNotRealized, v.job.Topology.Name, v.kernel.Release,
			res.Masks.Possible, res.Masks.Present, res.Masks.Online, res.Masks.Affinity,
			res.Expected.Possible, res.Expected.Present, res.Expected.Online, res.Expected.Affinity))
	}
	if len(guestErrs) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrGuest, strings.Join(guestErrs, "; ")))
	}
	if res.Err == nil {
		res.Err = errors.Join(errs...)
	}
	return res
}

// Work directories of VMs in the temporary directory: removed when the VM
// ends, except with WithKeep, which gives them the other prefix.
const (
	workDirPrefix     = "perfconform-vm-"
	keptWorkDirPrefix = "perfconform-kept-vm-"
)

// removeStaleWorkDirs removes the work directories of VMs whose run was
// killed (kill -9): nobody holds their lock.
func removeStaleWorkDirs() []string { return filelock.RemoveStale("", workDirPrefix) }

// withConsole is err of a VM that ended early, with its console tail. A
// kernel panic on the console is named on the first line, after what the
// kernel said about the initramfs if that failed: the panic line is far
// above the tail's stack trace, and it is the cause ("No working init
// found" is a broken image, not a broken suite).
func withConsole(err error, consoleLog string) error {
	if why := consolePanic(consoleLog); why != "" {
		err = fmt.Errorf("%w: %s", err, why)
	}
	return fmt.Errorf("%w; console tail:\n%s", err, consoleTail(consoleLog, ConsoleTailLines))
}

// consolePanic is "kernel panic: REASON" for the first kernel panic on the
// console, with any "Initramfs unpacking failed" line before it; "" when
// the kernel did not panic.
func consolePanic(consoleLog string) string {
	b, err := os.ReadFile(consoleLog)
	if err != nil {
		return ""
	}
	var unpack string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r ")
		if _, msg, ok := strings.Cut(line, "Initramfs unpacking failed: "); ok && unpack == "" {
			unpack = "Initramfs unpacking failed: " + msg
		}
		if _, reason, ok := strings.Cut(line, "Kernel panic - not syncing: "); ok {
			why := "kernel panic: " + strings.TrimSuffix(reason, " ]---")
			if unpack != "" {
				why += " (after " + unpack + ")"
			}
			return why
		}
	}
	return ""
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy console log: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy console log: %w", err)
	}
	return out.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// initrdMiB is the guest memory an initramfs needs on top of the topology's:
// twice its size, since the kernel holds the image while it unpacks it into
// RAM. Without it a 1-CPU VM (272 MiB) carrying a dozen adapters fails with
// "Initramfs unpacking failed: write error" and boots without its config.
func initrdMiB(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(2 * ((st.Size() + 1<<20 - 1) >> 20))
}
