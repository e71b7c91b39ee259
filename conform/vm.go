package conform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/suite/trigger"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/initramfs"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// GuestLoaderDir is where adapter executables go in the initramfs; each one
// is GuestLoaderDir/NAME. Host tools an adapter runs (bpftool) keep their
// host path, as the adapter expects them there.
const GuestLoaderDir = "/perfconform/loaders"

// vmConsoleEvidenceLines is how many console lines go into the detail of an
// ERROR result synthesized for a VM that did not finish; the run carries
// vmtest.ConsoleTailLines.
const vmConsoleEvidenceLines = 5

// vmLoaders is what --loader became for a VM run: what the guest is told,
// and the files the initramfs needs, per guest architecture.
type vmLoaders struct {
	guest []GuestLoader
	files map[string][]initramfs.File // arch name -> files
	disks map[string][]vmtest.Disk    // arch name -> disks (bcc's image)
}

// vmLoadersOf turns resolved loaders into guest loaders for VMs of the
// given architectures: the reference runs in-process in the guest; every
// adapter is copied into the initramfs under a name of its own (guestPath).
// Go adapters are built static for each architecture (the host's build of
// resolveLoaderSpecs for the host's).
// Built-in ones come with every file they need, built for each
// architecture (Adapter.VMFilesFor: the host build of resolveLoaderSpecs,
// or a cross build for a foreign one, refused with the reason where there
// is none); paths come with their library closure when dynamically linked,
// and only into VMs of their ELF machine (a script is refused by
// Plan.Validate: a VM has no interpreter).
func vmLoadersOf(ctx context.Context, specs []loaderSpec, arches []string, progress func(string)) (vmLoaders, error) {
	out := vmLoaders{files: map[string][]initramfs.File{}, disks: map[string][]vmtest.Disk{}}
	for i, s := range specs {
		if s.Path == "" {
			out.guest = append(out.guest, GuestLoader{Name: s.Name})
			continue
		}
		gp := guestPath(i, s.Path)
		out.guest = append(out.guest, GuestLoader{Name: s.Name, Path: gp})
		for _, an := range arches {
			var files []initramfs.File
			if s.GoPkg != "" {
				exe := s.Path
				if t, err := arch.Get(an); err != nil {
					return out, fmt.Errorf("%s: %w", s.Given, err)
				} else if !t.IsHost() {
					progress(fmt.Sprintf("building Go adapter %s for %s guests into %s", s.GoPkg, an, s.GoDir))
					if exe, err = vmtest.BuildStatic(ctx, s.GoWork, s.GoDir, s.GoPkg, t); err != nil {
						return out, fmt.Errorf("%s: %w", s.Given, err)
					}
				}
				files = []initramfs.File{{Host: exe}}
			} else if s.Builtin == nil {
				if exeArch, err := arch.OfELF(s.Path); err == nil && exeArch.Name != an {
					return out, fmt.Errorf("%s: an %s executable cannot run in the %s VMs (give an adapter built for %s, or kernels of one architecture)",
						s.Given, exeArch.Name, an, an)
				}
				files = []initramfs.File{{Host: s.Path}}
			} else {
				a, binDir := *s.Builtin, filepath.Dir(s.Path)
				if err := a.AvailableFor(an); err != nil {
					return out, fmt.Errorf("%s: %w", s.Given, err)
				}
				if t, _ := arch.Get(an); !t.IsHost() {
					progress(fmt.Sprintf("building adapter %s for %s guests into %s", a.Name, an, filepath.Dir(a.PathFor(binDir, an))))
					if _, err := a.BuildFor(ctx, binDir, an); err != nil {
						return out, fmt.Errorf("%s: %w", s.Given, err)
					}
				}
				var err error
				if files, err = a.VMFilesFor(ctx, binDir, an); err != nil {
					return out, fmt.Errorf("%s: %w", s.Given, err)
				}
				disks, err := a.VMDisksFor(ctx, an, progress)
				if err != nil {
					return out, fmt.Errorf("%s: %w", s.Given, err)
				}
				for _, d := range disks {
					if !slices.ContainsFunc(out.disks[an], func(x vmtest.Disk) bool { return x.Image == d.Image }) {
						out.disks[an] = append(out.disks[an], d)
					}
				}
			}
			files[0].Guest = gp // the adapter's own executable; host tools keep their path
			out.files[an] = append(out.files[an], files...)
		}
	}
	return out, nil
}

// kernelArches returns the guest architectures of the kernels, in order.
func kernelArches(kernels []string) ([]string, error) {
	var out []string
	for _, k := range kernels {
		a, err := kernel.ArchOf(k)
		if err != nil {
			return nil, fmt.Errorf("--kernel %s: %w", k, err)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// vmPlan is what a VM run's arguments resolve to before anything runs.
type vmPlan struct {
	tops     []topology.Topology
	kernels  []string
	reqs     []suite.Requirement
	parallel int
}

// planVMs checks a VM run's arguments without doing any work: topologies,
// kernels (a path must be a whole bzImage), -j.
func planVMs(f Plan) (vmPlan, error) {
	var p vmPlan
	if len(f.Kernels) == 0 {
		return p, fmt.Errorf("--topology needs --kernel: the kernels to boot (see 'conform kernels list')")
	}
	topos := f.Topologies
	if len(topos) == 0 {
		topos = []string{DefaultTopologySet}
	}
	var err error
	if p.tops, err = topology.Resolve(topos...); err != nil {
		return p, fmt.Errorf("--topology: %w (see 'conform topologies')", err)
	}
	for _, k := range f.Kernels {
		if k = strings.TrimSpace(k); k == "" || slices.Contains(p.kernels, k) {
			continue
		}
		if !slices.Contains(kernel.Names(), k) {
			if _, err := os.Stat(k); err != nil {
				return p, fmt.Errorf("--kernel %s: %w %q: not a catalog name (%s) nor an existing file", k, kernel.ErrUnknown, k, strings.Join(kernel.Names(), ", "))
			}
			if _, err := kernel.FromFile(k); err != nil {
				return p, fmt.Errorf("--kernel %s: %w", k, err)
			}
		}
		p.kernels = append(p.kernels, k)
	}
	if len(p.kernels) == 0 {
		return p, fmt.Errorf("--kernel: no kernel named")
	}
	p.reqs = requirementsOf(f.Requirements)
	if f.Parallel < 0 {
		return p, fmt.Errorf("-j %d: want a positive number of VMs", f.Parallel)
	}
	p.parallel = parallelOf(f.Parallel)
	return p, nil
}

// runInVMs runs the suite inside QEMU VMs, one per (kernel, topology); each
// VM runs every loader.
func runInVMs(ctx context.Context, o *options, p Plan, plan vmPlan, specs []loaderSpec) (*report.Results, error) {
	tops, kernels, reqs, parallel := plan.tops, plan.kernels, plan.reqs, plan.parallel
	cacheDir, err := kernel.DefaultCacheDir()
	if err != nil {
		return nil, err
	}

	arches, err := kernelArches(kernels)
	if err != nil {
		return nil, err
	}
	loaders, err := vmLoadersOf(ctx, specs, arches, o.message)
	if err != nil {
		return nil, err
	}
	guestBin := o.guestBinary
	if guestBin == "" {
		if guestBin, err = StaticGuest(ctx, cacheDir, o.message); err != nil {
			return nil, err
		}
	}

	ga := GuestArgs{Loaders: loaders.guest, Focus: p.Requirements, Timeout: p.Timeout, Serial: p.Serial, LoadersAtOnce: p.LoadersAtOnce}
	var jobs []vmtest.Job
	for _, k := range kernels {
		for _, t := range tops {
			jobs = append(jobs, vmtest.Job{Kernel: k, Topology: t, Args: ga.Encode(), PayloadTimeout: vmPayloadTimeout(len(loaders.guest), p.Timeout)})
		}
	}

	o.emit(VMsStarted{VMs: len(jobs)})
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			o.emit(Stopped{})
		}
	}
	defer stop()
	opts := []vmtest.Option{
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin), vmtest.WithKeep(p.KeepVMs),
		vmtest.WithParallel(parallel),
		vmtest.WithProgress(func(pr vmtest.Progress) { o.emit(VMProgress{pr}) }),
		vmtest.WithResults(func(r result.Result) { o.emit(ResultReady{Result: r}) }),
		vmtest.WithKernelCheck(func(k kernel.Kernel) error { return trigger.CheckKernel(k.Release) }),
	}
	for a, files := range loaders.files {
		opts = append(opts, vmtest.WithArchFiles(a, files...))
	}
	for a, disks := range loaders.disks {
		for _, d := range disks {
			opts = append(opts, vmtest.WithArchDisk(a, d))
		}
	}
	if p.OutDir != "" {
		opts = append(opts, vmtest.WithOutDir(p.OutDir))
	}
	o.message(fmt.Sprintf("running %d VM(s) (%d kernel(s) x %d topologies), %d at a time, loaders: %s",
		len(jobs), len(kernels), len(tops), min(parallel, len(jobs)), loaderNames(loaders.guest)))
	vms, runErr := vmtest.Run(ctx, jobs, opts...)
	retried := map[int]string{}
	if runErr == nil {
		vms, retried, runErr = retryBootFailures(ctx, jobs, vms, opts, o.message)
	}
	stop()
	if vms == nil {
		return nil, runErr
	}
	if runErr != nil {
		// Cancelled (Ctrl-C): every VM is dead; write what was collected.
		o.message(fmt.Sprintf("run interrupted: %v; writing the results collected so far", runErr))
	}

	doc := &report.Results{Generated: time.Now().UTC()}
	for i, vm := range vms {
		run, results := vmRunReport(jobs[i], vm, loaders.guest, reqs)
		run.Retried = retried[i]
		for _, r := range results[len(vm.Results):] {
			o.emit(ResultReady{Result: r})
		}
		doc.Runs = append(doc.Runs, run)
		doc.Results = append(doc.Results, results...)
	}
	o.emit(VMsFinished{Runs: doc.Runs, VMs: vms})
	if p.OutDir == "" && len(vms) > 0 {
		o.message(fmt.Sprintf("VM logs (console.log, events.jsonl, vm.json) in %s", filepath.Dir(vms[0].OutDir)))
	}
	return doc, nil
}

// bootFailure is true for a VM whose guest died before its first event: it
// never reached PID 1's code, so nothing about the suite or the loaders was
// involved. Under TCG, SMP guests occasionally oops while the kernel patches
// its own text ("Oops: int3" in the console).
func bootFailure(vm vmtest.VMResult) bool {
	if vm.Err == nil || !vm.Booted.IsZero() || notRealized(vm) || errors.Is(vm.Err, context.Canceled) {
		return false
	}
	return errors.Is(vm.Err, vmtest.ErrNoDone) || errors.Is(vm.Err, vmtest.ErrTimeout) || errors.Is(vm.Err, vmtest.ErrQEMU)
}

// retryBootFailures boots every VM that died before booting once more. The
// first attempt's logs are kept beside the second's (DIR.attempt1) and its
// error is returned per job index, for the report; a second failure stands.
func retryBootFailures(ctx context.Context, jobs []vmtest.Job, vms []vmtest.VMResult, opts []vmtest.Option, line func(string)) ([]vmtest.VMResult, map[int]string, error) {
	retried := map[int]string{}
	var again []vmtest.Job
	var idx []int
	for i, vm := range vms {
		if !bootFailure(vm) {
			continue
		}
		first := firstLine(vm.ErrorMsg)
		if first == "" {
			first = firstLine(vm.Err.Error())
		}
		if vm.OutDir != "" {
			kept := vm.OutDir + ".attempt1"
			os.RemoveAll(kept)
			if err := os.Rename(vm.OutDir, kept); err == nil {
				first += " (logs in " + kept + ")"
			}
		}
		line(fmt.Sprintf("%s/%s died before booting (%s); booting it once more", vm.Kernel.Name, vm.Topology, firstLine(vm.Err.Error())))
		retried[i] = first
		again = append(again, jobs[i])
		idx = append(idx, i)
	}
	if len(again) == 0 {
		return vms, retried, nil
	}
	second, err := vmtest.Run(ctx, again, opts...)
	for j, i := range idx {
		if j < len(second) {
			vms[i] = second[j]
		}
	}
	return vms, retried, err
}

// vmPayloadTimeout bounds one VM's suite run: the default per loader, more
// when the per-sample timeout was raised above the TCG default. It
// saturates at maxVMPayloadTimeout rather than wrap around to a negative
// bound, which would kill the VM right after boot (Validate keeps the
// timeout to MaxTimeout; this is the arithmetic's own guard).
func vmPayloadTimeout(loaders int, sampleTimeout time.Duration) time.Duration {
	d := float64(vmtest.DefaultPayloadTimeout(qemu.AccelTCG)) * float64(max(loaders, 1))
	if sampleTimeout > TCGSampleTimeout {
		d = d * float64(sampleTimeout) / float64(TCGSampleTimeout)
	}
	return time.Duration(min(d, float64(maxVMPayloadTimeout)))
}

// maxVMPayloadTimeout leaves vmtest room to add its boot bounds.
const maxVMPayloadTimeout = time.Duration(math.MaxInt64 / 4)

// StaticGuest returns a static guest binary for VMs of the host's
// architecture to boot as /init: this executable when it is the conform
// command (vmtest.ConformPackage) and statically linked, otherwise the
// conform command built static (CGO_ENABLED=0) into cacheDir/guest.
// progress says why and how long a build took.
func StaticGuest(ctx context.Context, cacheDir string, progress func(string)) (string, error) {
	exe, err := os.Executable()
	why := "is not statically linked"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != vmtest.ConformPackage {
		why = "is not the conform command"
	} else if err == nil {
		if libs, cerr := initramfs.Closure(exe); cerr == nil && len(libs) == 0 {
			return exe, nil
		}
	}
	progress(fmt.Sprintf("%s %s; building a static guest (CGO_ENABLED=0 go build %s) into %s",
		exe, why, vmtest.ConformPackage, filepath.Join(cacheDir, "guest")))
	start := time.Now()
	bin, err := vmtest.GuestBinary(ctx, cacheDir, "")
	if err != nil {
		return "", err
	}
	progress(fmt.Sprintf("static guest %s built in %v", bin, time.Since(start).Round(100*time.Millisecond)))
	return bin, nil
}

// vmRunReport turns one VM into its report.Run and its results. A VM that
// should have run the suite (its topology was not known to be unrealizable)
// but did not deliver every (loader, requirement) gets an ERROR result for
// each missing one, carrying the VM's error and console tail, so a dead VM
// can never look like a shorter run. A topology the kernel cannot realize is
// a run with Realized=false and its error, with no results: it says nothing
// about the loaders.
func vmRunReport(job vmtest.Job, vm vmtest.VMResult, loaders []GuestLoader, reqs []suite.Requirement) (report.Run, []result.Result) {
	run := report.Run{
		Kernel:      report.Kernel{Name: vm.Kernel.Name, Version: vm.Kernel.Release, Arch: vm.Kernel.Arch},
		Topology:    job.Topology.Name,
		Realized:    vm.Realized,
		Synthetic:   job.Topology.Synthetic,
		Accelerator: vm.Accelerator,
		Started:     vm.Started,
		Boot:        vm.BootTime(),
	}
	if vm.Kernel.ByPath() {
		run.Kernel.Path = vm.Kernel.Path // named by its release; results.json keeps the file
	}
	if run.Kernel.Name == "" {
		run.Kernel.Name = job.Kernel
	}
	if vm.Expected != (result.Masks{}) {
		m := vm.Expected
		run.Requested = &m
	}
	if vm.Masks != (result.Masks{}) {
		m := vm.Masks
		run.Masks = &m
	}
	if !vm.Started.IsZero() && !vm.Ended.IsZero() {
		run.Duration = vm.Ended.Sub(vm.Started)
	}
	names := make([]string, len(loaders))
	for i, l := range loaders {
		names[i] = l.Name
	}
	run.Loaders = runLoaders(names, vm.Results)
	versions := map[string]string{}
	for _, l := range run.Loaders {
		versions[l.Name] = l.Version
	}
	results := append([]result.Result(nil), vm.Results...)
	if vm.Err == nil {
		return run, results
	}

	msg, _, _ := strings.Cut(vm.Err.Error(), "; console tail:")
	if errors.Is(vm.Err, vmtest.ErrNotRealizable) {
		// Declared in the catalog and not booted: not an error.
		run.Realized, run.NotRealizable = false, msg
		return run, results
	}
	run.Error = msg
	if notRealized(vm) {
		run.Realized = false
		return run, results
	}
	console := consoleLines(filepath.Join(vm.OutDir, "console.log"), vmtest.ConsoleTailLines)
	if len(console) > 0 {
		run.ConsoleTail = console
	}
	evidence := fmt.Sprintf("not checked: VM %s/%s did not complete the suite: %s", run.Kernel.Name, run.Topology, firstLine(msg))
	if n := len(console); n > 0 {
		evidence += "; console tail: " + strings.Join(console[max(0, n-vmConsoleEvidenceLines):], " | ")
	}
	have := map[[2]string]bool{}
	for _, r := range vm.Results {
		have[[2]string{r.Loader, r.Requirement}] = true
	}
	for _, l := range loaders {
		for _, req := range reqs {
			if have[[2]string{l.Name, req.ID}] {
				continue
			}
			r := result.Result{
				Requirement: req.ID, Level: req.Level, Status: result.Error, Detail: evidence,
				Loader: l.Name, LoaderVersion: versions[l.Name],
				Kernel: run.Kernel.Name, Topology: run.Topology, Accelerator: vm.Accelerator, Masks: run.Masks,
			}
			results = append(results, r)
		}
	}
	return run, results
}

// notRealized is true when the VM failed only because its topology was not
// realized on its kernel: declared not realizable (not booted) or measured
// so in the guest, with the guest ending cleanly.
func notRealized(vm vmtest.VMResult) bool {
	for _, broken := range []error{vmtest.ErrTimeout, vmtest.ErrNoDone, vmtest.ErrQEMU, context.Canceled} {
		if errors.Is(vm.Err, broken) {
			return false
		}
	}
	return errors.Is(vm.Err, vmtest.ErrNotRealizable) || errors.Is(vm.Err, vmtest.ErrTopologyNotRealized)
}

// consoleLines returns the last n non-empty lines of a console log.
func consoleLines(path string, n int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimRight(l, "\r "); l != "" {
			lines = append(lines, l)
		}
	}
	return lines[max(0, len(lines)-n):]
}

func loaderNames(ls []GuestLoader) string {
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return strings.Join(names, ", ")
}

// runLoaders lists a run's loaders in the plan's order (names), each with the
// version its results carry. The plan's order, not the results': Ginkgo
// shuffles the loaders' containers, so results come in a different order in
// every run.
func runLoaders(names []string, results []result.Result) []report.Loader {
	versions := map[string]string{}
	for _, r := range results {
		if r.LoaderVersion != "" && versions[r.Loader] == "" {
			versions[r.Loader] = r.LoaderVersion
		}
	}
	out := make([]report.Loader, 0, len(names))
	for _, n := range names {
		out = append(out, report.Loader{Name: n, Version: versions[n]})
	}
	return out
}
