package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfconform/perfconform/internal/nswrap"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/guest"
	"github.com/perfconform/perfconform/vmtest/initramfs"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

var (
	// ErrNoDone: the guest's event stream ended without done (payload
	// panic, kernel panic, hang, crash); the error carries the console tail.
	ErrNoDone = errors.New("guest ended without done")
	// ErrTimeout: the VM did not finish in time and was killed.
	ErrTimeout = errors.New("vm timed out")
	// ErrGuest: the guest reported error events.
	ErrGuest = errors.New("guest reported errors")
	// ErrTopologyNotRealized: the guest's masks did not match the topology's
	// expectation; the payload did not run.
	ErrTopologyNotRealized = guest.ErrTopologyNotRealized
	// ErrNotRealizable: the topology cannot be produced on the kernel; no VM
	// was booted.
	ErrNotRealizable = topology.ErrNotRealizable
	// ErrQEMU: QEMU failed (could not start, or exited with an error).
	ErrQEMU = errors.New("qemu failed")
)

// Job is one VM: a kernel and a topology.
type Job struct {
	// Kernel is a catalog name ("debian-6.1", "debian-6.12-arm64", "host")
	// or a kernel image path. Its architecture is the VM's.
	Kernel   string
	Topology topology.Topology
	// Args are handed to the payload (guest.Env.Args).
	Args []string
	// PayloadTimeout bounds the time from booted to done; zero means
	// DefaultPayloadTimeout for the accelerator, times the timeout scale.
	PayloadTimeout time.Duration
	// BootUnrealizable boots the VM even when the topology declares itself
	// not realizable on the kernel, to measure what the kernel does; the
	// result then carries the masks and ErrTopologyNotRealized.
	BootUnrealizable bool
}

// DefaultPayloadTimeout is the time a payload gets under each accelerator.
func DefaultPayloadTimeout(accel string) time.Duration {
	if accel == qemu.AccelKVM {
		return 2 * time.Minute
	}
	return 5 * time.Minute
}

// VMResult is what one VM produced. It is also written as vm.json in the
// VM's out directory.
type VMResult struct {
	Kernel      kernel.Kernel `json:"kernel"`
	Topology    string        `json:"topology"`
	Accelerator string        `json:"accelerator,omitempty"`
	// Realized is true when the guest's masks matched the expectation.
	Realized bool            `json:"realized"`
	Masks    result.Masks    `json:"masks"`    // as read in the guest
	Expected result.Masks    `json:"expected"` // the topology's expectation for the kernel
	Results  []result.Result `json:"results"`
	// Logs are the guest's log and error messages, in order.
	Logs []string `json:"logs,omitempty"`

	Started time.Time `json:"started,omitzero"` // QEMU started
	Booted  time.Time `json:"booted,omitzero"`  // booted event received
	Done    time.Time `json:"done,omitzero"`    // done event received
	Ended   time.Time `json:"ended,omitzero"`   // QEMU gone

	// OutDir holds events.jsonl, console.log and vm.json.
	OutDir string `json:"out_dir"`
	// Err is nil only for a VM that realized its topology, ran the payload
	// and ended with done, without error events.
	Err      error  `json:"-"`
	ErrorMsg string `json:"error,omitempty"`
}

// BootTime is the time from QEMU's start to the booted event.
func (r VMResult) BootTime() time.Duration {
	if r.Booted.IsZero() || r.Started.IsZero() {
		return 0
	}
	return r.Booted.Sub(r.Started)
}

// RunTime is the time from the booted event to done.
func (r VMResult) RunTime() time.Duration {
	if r.Done.IsZero() || r.Booted.IsZero() {
		return 0
	}
	return r.Done.Sub(r.Booted)
}

// Progress is news about a Run.
type Progress struct {
	Kernel   string // the kernel's name (a kernel given by path: its release)
	Topology string // job topology; empty for run-wide stages
	Stage    string // "kernel", "image", "accel", "start", "booted", "realized", "done", "failed"
	Message  string
}

func (p Progress) String() string {
	where := p.Kernel
	if p.Topology != "" {
		where += "/" + p.Topology
	}
	if where == "" {
		return fmt.Sprintf("%s: %s", p.Stage, p.Message)
	}
	return fmt.Sprintf("%s %s: %s", where, p.Stage, p.Message)
}

type options struct {
	parallel     int
	keep         bool
	outDir       string
	progress     func(Progress)
	timeoutScale float64
	cacheDir     string
	guestBinary  map[string]string // arch name -> static guest binary
	guestErr     error
	accel        string
	qemuBinary   string
	files        []initramfs.File
	archFiles    map[string][]initramfs.File // arch name -> files for its VMs only
	archDisks    map[string][]Disk           // arch name -> disks of its VMs
	onResult     func(result.Result)
	kernelCheck  func(kernel.Kernel) error
}

// Option configures Run.
type Option func(*options)

// WithParallel bounds the number of VMs running at once; the default is the
// number of host CPUs.
func WithParallel(n int) Option { return func(o *options) { o.parallel = n } }

// WithKeep keeps each VM's temporary directory (initrd, config, console log).
func WithKeep(keep bool) Option { return func(o *options) { o.keep = keep } }

// WithOutDir sets where each VM's events.jsonl, console.log and vm.json go;
// by default a new perfconform-vmtest-* directory in the system temp dir.
func WithOutDir(dir string) Option { return func(o *options) { o.outDir = dir } }

// WithProgress receives progress; it is called from several goroutines,
// one call at a time.
func WithProgress(fn func(Progress)) Option { return func(o *options) { o.progress = fn } }

// WithTimeoutScale multiplies every timeout (slow or busy hosts).
func WithTimeoutScale(f float64) Option { return func(o *options) { o.timeoutScale = f } }

// WithCacheDir sets the cache of kernels, images and the accelerator
// verdict; default kernel.DefaultCacheDir.
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithGuestBinary sets the static binary that runs as /init in VMs of its
// architecture (read from its ELF header); it must call guest.Main when
// started as "/init guest". Give one per architecture; VMs of an
// architecture without one get BuildGuestFor of cmd/conform.
func WithGuestBinary(path string) Option {
	return func(o *options) {
		a, err := arch.OfELF(path)
		if err != nil {
			o.guestErr = errors.Join(o.guestErr, fmt.Errorf("guest binary: %w", err))
			return
		}
		if o.guestBinary == nil {
			o.guestBinary = map[string]string{}
		}
		o.guestBinary[a.Name] = path
	}
}

// WithAccel sets the accelerator: "auto" (default), "kvm" or "tcg".
func WithAccel(accel string) Option { return func(o *options) { o.accel = accel } }

// WithQEMU sets the QEMU binary of every VM; by default each VM gets the one
// for its kernel's architecture (qemu.BinaryFor).
func WithQEMU(binary string) Option { return func(o *options) { o.qemuBinary = binary } }

// WithResults receives every result event as soon as the host has decoded
// it (kernel, topology, accelerator and masks filled in as in
// VMResult.Results), so callers can show results live. Like WithProgress it is
// called from several goroutines, one call at a time.
func WithResults(fn func(result.Result)) Option { return func(o *options) { o.onResult = fn } }

// WithKernelCheck refuses the run before anything boots when check returns
// an error for one of the jobs' kernels (resolved, so its release is known
// from kernel.json or the bzImage header): conform run passes the suite's
// oldest-kernel check.
func WithKernelCheck(check func(kernel.Kernel) error) Option {
	return func(o *options) { o.kernelCheck = check }
}

// WithFiles adds files to every VM's initramfs (fixtures, scripts, and
// executables when every kernel is of one architecture).
func WithFiles(files ...initramfs.File) Option {
	return func(o *options) { o.files = append(o.files, files...) }
}

// WithArchFiles adds files to the initramfs of VMs of one architecture only
// (arch.Arch.Name): executables built for it, such as adapters.
func WithArchFiles(archName string, files ...initramfs.File) Option {
	return func(o *options) {
		if o.archFiles == nil {
			o.archFiles = map[string][]initramfs.File{}
		}
		o.archFiles[archName] = append(o.archFiles[archName], files...)
	}
}

// Disk is a read-only file-system image attached to every VM of one
// architecture (WithArchDisk) as a virtio-blk device, which the guest
// mounts before the payload runs: for what is too big for an initramfs
// (bcc's Python, libbcc and LLVM). One image serves every VM at once.
type Disk struct {
	Image  string // host path of the raw file-system image
	FSType string // its file system, built into the guest kernel ("ext4")
	Mount  string // where the guest mounts it, read-only
	// Modules are the kernel modules the guest needs to see the disk
	// (virtio_blk and its transport): taken from each kernel's own package
	// (kernel.Cache.ExtraModules), built-in ones left out.
	Modules []string
	// MemoryMiB is added to the guest's memory for what runs from the disk.
	MemoryMiB int
}

// WithArchDisk attaches d to every VM of one architecture (arch.Arch.Name).
func WithArchDisk(archName string, d Disk) Option {
	return func(o *options) {
		if o.archDisks == nil {
			o.archDisks = map[string][]Disk{}
		}
		o.archDisks[archName] = append(o.archDisks[archName], d)
	}
}

// Run boots one VM per job and returns one VMResult per job, in job order.
// Per-VM failures are in VMResult.Err; the error is for failures that stop
// the whole run (no kernel, no QEMU, no image, cancelled context).
func Run(ctx context.Context, jobs []Job, opts ...Option) ([]VMResult, error) {
	o := options{parallel: runtime.NumCPU(), timeoutScale: 1, accel: qemu.AccelAuto}
	for _, opt := range opts {
		opt(&o)
	}
	if o.parallel < 1 {
		o.parallel = 1
	}
	removeStaleWorkDirs()
	var progressMu sync.Mutex
	report := func(p Progress) {
		if o.progress != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			o.progress(p)
		}
	}
	onResult := func(r result.Result) {
		if o.onResult != nil {
			progressMu.Lock()
			defer progressMu.Unlock()
			o.onResult(r)
		}
	}
	if o.cacheDir == "" {
		dir, err := kernel.DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		o.cacheDir = dir
	}
	if o.outDir == "" {
		dir, err := os.MkdirTemp("", "perfconform-vmtest-")
		if err != nil {
			return nil, fmt.Errorf("out dir: %w", err)
		}
		o.outDir = dir
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return nil, fmt.Errorf("out dir: %w", err)
	}
	if o.guestErr != nil {
		return nil, o.guestErr
	}

	// Kernels: resolve (and fetch) each once; their architectures are the VMs'.
	cache := &kernel.Cache{Dir: o.cacheDir, Progress: func(msg string) { report(Progress{Stage: "kernel", Message: msg}) }}
	kernels := map[string]kernel.Kernel{}
	arches := map[string]arch.Arch{} // job kernel -> guest architecture
	var archOrder []arch.Arch
	givenAs := map[string]string{}       // kernel name -> the job kernel that resolved to it
	diskModules := map[string][]string{} // job kernel -> host paths of its disks' modules
	for _, j := range jobs {
		if _, ok := kernels[j.Kernel]; ok {
			continue
		}
		k, err := cache.Resolve(ctx, j.Kernel)
		if err != nil {
			return nil, err
		}
		// Results are keyed by kernel name: two files of one release would
		// mix their results under it.
		if prev, dup := givenAs[k.Name]; dup {
			return nil, fmt.Errorf("kernels %s and %s are both named %s (results are keyed by kernel name): boot one per run", prev, j.Kernel, k.Name)
		}
		givenAs[k.Name] = j.Kernel
		if o.kernelCheck != nil {
			if err := o.kernelCheck(k); err != nil {
				return nil, fmt.Errorf("kernel %s: %w", k, err)
			}
		}
		a, err := k.GuestArch()
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", j.Kernel, err)
		}
		kernels[j.Kernel], arches[j.Kernel] = k, a
		if disks := o.archDisks[a.Name]; len(disks) > 0 {
			var names []string
			for _, d := range disks {
				names = append(names, d.Modules...)
			}
			mods, err := cache.ExtraModules(ctx, k, names...)
			if err != nil {
				return nil, fmt.Errorf("kernel %s: the modules of its disks: %w", j.Kernel, err)
			}
			diskModules[j.Kernel] = mods
		}
		if !slices.ContainsFunc(archOrder, func(x arch.Arch) bool { return x.Name == a.Name }) {
			archOrder = append(archOrder, a)
		}
	}

	// Per architecture: QEMU, the guest binary, the base image shared by
	// its VMs, and the accelerator.
	guests := map[string]archGuest{}
	for _, a := range archOrder {
		g, err := o.prepareArch(ctx, a, kernels, arches, report)
		if err != nil {
			return nil, err
		}
		guests[a.Name] = g
	}
	results := make([]VMResult, len(jobs))
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = kernels[j.Kernel].Name
	}
	dirs := jobDirs(o.outDir, names, jobs)
	// Workers take jobs in order, so progress follows the job list.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(o.parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				g := guests[arches[j.Kernel].Name]
				vm := &vmRun{job: j, kernel: kernels[j.Kernel], arch: g.arch, accel: g.accel, outDir: dirs[i], opts: &o, baseImage: g.image, report: report, onResult: onResult,
					disks: o.archDisks[g.arch.Name], diskModules: diskModules[j.Kernel]}
				results[i] = vm.run(ctx)
			}
		}()
	}
	for i, j := range jobs {
		if ctx.Err() != nil {
			results[i] = VMResult{Kernel: kernels[j.Kernel], Topology: j.Topology.Name, OutDir: dirs[i], Err: ctx.Err(), ErrorMsg: ctx.Err().Error()}
			continue
		}
		select {
		case next <- i:
		case <-ctx.Done():
			results[i] = VMResult{Kernel: kernels[j.Kernel], Topology: j.Topology.Name, OutDir: dirs[i], Err: ctx.Err(), ErrorMsg: ctx.Err().Error()}
		}
	}
	close(next)
	wg.Wait()
	return results, ctx.Err()
}

// archGuest is what every VM of one architecture shares.
type archGuest struct {
	arch  arch.Arch
	image initramfs.Image
	accel string
}

// prepareArch checks QEMU for a, builds (or takes) its guest binary and base
// image and resolves its accelerator: KVM is only ever probed for the
// host's architecture; other architectures are emulated (TCG).
func (o *options) prepareArch(ctx context.Context, a arch.Arch, kernels map[string]kernel.Kernel, arches map[string]arch.Arch, report func(Progress)) (archGuest, error) {
	g := archGuest{arch: a}
	binary := o.qemuBinary
	if binary == "" {
		binary = qemu.BinaryFor(a)
	}
	if _, err := qemu.Version(ctx, binary); err != nil {
		return g, fmt.Errorf("%s guests: %w", a.Name, err)
	}
	bin := o.guestBinary[a.Name]
	if bin == "" {
		report(Progress{Stage: "image", Message: fmt.Sprintf("building the static %s guest binary", a.Name)})
		var err error
		if bin, err = BuildGuestFor(ctx, filepath.Join(o.cacheDir, "guest"), ConformPackage, a); err != nil {
			return g, err
		}
	}
	files := append(append([]initramfs.File{}, o.files...), o.archFiles[a.Name]...)
	// The dedicated session wrapper next to /init (package nswrap): each
	// adapter start then pays for a small program's start, not conform's.
	// Without it (no module to build it in) adapters start through /init.
	if wrap, err := BuildGuestFor(ctx, filepath.Join(o.cacheDir, "guest"), NSWrapPackage, a); err != nil {
		report(Progress{Stage: "image", Message: fmt.Sprintf("%s: no dedicated session wrapper, adapters start through /init: %v", a.Name, err)})
	} else {
		files = append(files, initramfs.File{Host: wrap, Guest: "/" + nswrap.ExecutableName})
	}
	img, err := initramfs.Build(initramfs.Spec{Init: bin, Files: files}, filepath.Join(o.cacheDir, "initramfs"))
	if err != nil {
		return g, fmt.Errorf("%s guests: %w", a.Name, err)
	}
	g.image = img
	if img.Rebuilt != "" {
		report(Progress{Stage: "image", Message: fmt.Sprintf("%s: rebuilt the image: %s", a.Name, img.Rebuilt)})
	}
	report(Progress{Stage: "image", Message: fmt.Sprintf("%s: %s (cache hit: %v)", a.Name, img.Path, img.Hit)})

	g.accel = o.accel
	switch {
	case !a.IsHost() && g.accel == qemu.AccelKVM:
		return g, fmt.Errorf("%w: %s guests cannot use kvm on a %s host", qemu.ErrBadConfig, a.Name, runtime.GOARCH)
	case !a.IsHost():
		g.accel = qemu.AccelTCG
		report(Progress{Stage: "accel", Message: fmt.Sprintf("%s: %s (emulated on a %s host)", a.Name, g.accel, runtime.GOARCH)})
	case g.accel == qemu.AccelAuto:
		var probeKernel kernel.Kernel
		for name, k := range kernels {
			if arches[name].Name == a.Name {
				probeKernel = k
				break
			}
		}
		v, err := qemu.AutoAccel(ctx, binary, filepath.Join(o.cacheDir, "accel.json"),
			kvmProber(binary, a, probeKernel, img.Path))
		if err != nil {
			return g, err
		}
		g.accel = v.Accel
		report(Progress{Stage: "accel", Message: fmt.Sprintf("%s (%s)", v.Accel, v.Reason)})
	}
	return g, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// jobDirs names each job's out directory <kernel>_<topology>, made unique;
// kernels[i] is job i's kernel name.
func jobDirs(outDir string, kernels []string, jobs []Job) []string {
	seen := map[string]int{}
	dirs := make([]string, len(jobs))
	for i, j := range jobs {
		name := unsafeName.ReplaceAllString(kernels[i]+"_"+j.Topology.Name, "-")
		seen[name]++
		if n := seen[name]; n > 1 {
			name = fmt.Sprintf("%s-%d", name, n)
		}
		dirs[i] = filepath.Join(outDir, name)
	}
	return dirs
}

// kvmProber boots the base image with a probe config under KVM: success is
// a clean exit with guest.ProbeMarker on the console.
func kvmProber(binary string, a arch.Arch, k kernel.Kernel, baseImage string) qemu.Prober {
	return func(ctx context.Context) error {
		dir, err := os.MkdirTemp("", "perfconform-kvm-probe-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg, _ := json.Marshal(guest.Config{Probe: true, Kernel: k.Name})
		initrd := filepath.Join(dir, "initrd")
		if err := initramfs.WriteWithOverlay(initrd, baseImage, map[string][]byte{guest.ConfigPath: cfg}); err != nil {
			return err
		}
		m := qemu.Machine{
			Arch: a, Binary: binary, Accel: qemu.AccelKVM, SMP: qemu.SMP{CPUs: 1},
			Kernel: k.Path, Initrd: initrd, Append: []string{"quiet", "--", guest.GuestArg},
			ConsoleLog: filepath.Join(dir, "console.log"),
		}
		vm, err := qemu.Start(ctx, m)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, vm.Events())
		waitErr := vm.Wait()
		console, _ := os.ReadFile(m.ConsoleLog)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("kvm guest did not power off within %v: %w", qemu.ProbeTimeout, ctx.Err())
		case waitErr != nil:
			return waitErr
		case strings.Contains(vm.Stderr(), "KVM internal error"):
			return fmt.Errorf("KVM internal error: %s", vm.Stderr())
		case !strings.Contains(string(console), guest.ProbeMarker):
			return fmt.Errorf("kvm guest exited without %q on its console", guest.ProbeMarker)
		}
		return nil
	}
}

// consoleTail returns the last n lines of a console log.
func consoleTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
