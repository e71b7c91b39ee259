// Package vmbench measures what the VM harness costs, in three parts:
//
//   - PerVM: for each kernel and -smp N, one VM per suite payload (by default
//     the reference loader alone; one per loader when several are given) and
//     one bare VM (the guest only realizes and reports its topology, as
//     `conform topologies verify` boots it), one VM at a time. Each VM's
//     boot, after-boot time (total − boot: what `conform run`'s VM table
//     prints as AFTER) and each loader's spec seconds are kept, so a
//     loader's cost per VM is a number.
//   - Matrix: topologies × kernels, bare VMs one at a time (their sum is the
//     ideal's numerator), bare and suite VMs Parallel at a time.
//   - Boot: below vmtest (bench/vmboot), the same QEMU command line with a
//     bare init, varying one thing at a time.
//
// What a suite VM runs is the caller's: a Payload is the guest arguments and
// initramfs files of a run of one or more loaders (conform.GuestPayloads
// resolves them the way `conform run` does).
package vmbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/bench/machine"
	"github.com/perfconform/perfconform/bench/vmboot"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// Parts.
const (
	PerVM  = "pervm"
	Matrix = "matrix"
	Boot   = "boot"
)

// Parts are every part, in the order Run runs them.
var Parts = []string{PerVM, Matrix, Boot}

// Goals of issue 14 for a VM running one loader (PerVM figures): after boot
// at most GoalAfterBoot, and the whole VM at most GoalTotalPerBare times the
// bare VM of the same kernel and topology.
const (
	GoalAfterBoot    = time.Second
	GoalTotalPerBare = 1.35
)

// Defaults of Config's zero fields (and of `conform bench vm`'s flags).
var (
	DefaultKernels = []string{"debian-6.1", "debian-6.12"}
	DefaultSMP     = []int{1, 4, 8}
	DefaultMatrix  = []string{"quick"}
)

const (
	DefaultParallel = 2
	DefaultReps     = 3
)

// Payload is what a suite VM runs: the guest's arguments and initramfs files
// for some loaders, resolved by package conform as `conform run` resolves
// them (conform.GuestPayloads).
type Payload = conform.GuestPayload

// Config says what to measure.
type Config struct {
	Parts    []string // default Parts
	Kernels  []string // catalog names or bzImage paths; default DefaultKernels
	SMP      []int    // CPU counts of the PerVM and Boot parts; default DefaultSMP
	Matrix   []string // topologies or sets of the Matrix part; default DefaultMatrix
	Parallel int      // VMs at once in the Matrix part; default DefaultParallel
	Rounds   int      // PerVM VMs per (payload, kernel, -smp), interleaved; default 1
	Reps     int      // Boot part boots per (variant, kernel, -smp); the median is printed; default DefaultReps
	// Alone are the PerVM part's suite payloads: one VM each per (kernel,
	// -smp), beside a bare one. Suite is the Matrix part's payload.
	Alone []Payload
	Suite Payload
	// GuestBinary is the static binary every VM boots as /init (it must run
	// the guest); the Boot part packs it into its largest image.
	GuestBinary string
	CacheDir    string // kernels and images; default kernel.DefaultCacheDir
	OutDir      string // keep each vmtest VM's logs here, per part; "" = vmtest's temporary directories
	Progress    func(string)
	// Out receives each part's table as soon as the part is done; nil: no
	// tables (Results.WriteTables prints them later).
	Out io.Writer
}

// Figure is one VM of the PerVM or Matrix part.
type Figure struct {
	Kernel   string        `json:"kernel"`
	Topology string        `json:"topology"`
	Payload  string        `json:"payload"`           // suite or bare
	Loaders  []string      `json:"loaders,omitempty"` // the suite's loaders
	Round    int           `json:"round,omitempty"`   // PerVM: 1, 2, ...
	Boot     time.Duration `json:"boot_ns"`           // QEMU start → booted
	Run      time.Duration `json:"run_ns"`            // booted → done
	PowerOff time.Duration `json:"poweroff_ns"`       // done → QEMU exit
	Total    time.Duration `json:"total_ns"`
	// AfterBoot is Total − Boot: what the payload and the power-off cost, as
	// `conform run`'s VM table prints it (AFTER).
	AfterBoot time.Duration `json:"after_boot_ns"`
	// Specs is each loader's results' durations summed, in the order the
	// loaders first reported: the suite's own time per loader.
	Specs   []LoaderTime `json:"specs,omitempty"`
	Results int          `json:"results"` // results the guest delivered
	Failed  int          `json:"failed"`  // of which FAIL or ERROR
	Err     string       `json:"error,omitempty"`
}

// LoaderTime is one loader's spec time in a VM.
type LoaderTime struct {
	Loader   string        `json:"loader"`
	Duration time.Duration `json:"duration_ns"`
}

// Results of Run; what a part did not run stays empty.
type Results struct {
	Machine     string         `json:"machine"`
	Kernels     []string       `json:"kernels"`
	Matrix      []string       `json:"matrix,omitempty"`
	PerVM       []Figure       `json:"per_vm,omitempty"`
	MatrixBare  []Figure       `json:"matrix_bare,omitempty"`
	MatrixSuite []Figure       `json:"matrix_suite,omitempty"`
	MatrixWall  time.Duration  `json:"matrix_wall_ns,omitempty"`
	MatrixBareJ time.Duration  `json:"matrix_bare_parallel_wall_ns,omitempty"`
	Boots       []vmboot.Boot  `json:"boots,omitempty"`
	Images      []vmboot.Image `json:"images,omitempty"`
	Jobs        int            `json:"jobs"`
	Reps        int            `json:"reps,omitempty"`
}

// ErrConfig is wrapped by every refusal of a Config, before anything boots.
var ErrConfig = errors.New("vm bench")

// Validate checks what needs no work: the parts, the CPU counts and the
// numbers. Run validates too; a caller that prepares payloads (building
// adapters) checks first.
func (c Config) Validate() error {
	for _, p := range c.Parts {
		if !slices.Contains(Parts, p) {
			return fmt.Errorf("%w: unknown part %q (want %s)", ErrConfig, p, strings.Join(Parts, ", "))
		}
	}
	for _, n := range c.SMP {
		if n < 1 {
			return fmt.Errorf("%w: -smp %d: want at least one CPU", ErrConfig, n)
		}
	}
	if c.Parallel < 0 || c.Rounds < 0 || c.Reps < 0 {
		return fmt.Errorf("%w: -j %d, rounds %d, reps %d: want positive numbers", ErrConfig, c.Parallel, c.Rounds, c.Reps)
	}
	return nil
}

func (c *Config) defaults() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if len(c.Parts) == 0 {
		c.Parts = Parts
	}
	if len(c.Kernels) == 0 {
		c.Kernels = DefaultKernels
	}
	if len(c.SMP) == 0 {
		c.SMP = DefaultSMP
	}
	if len(c.Matrix) == 0 {
		c.Matrix = DefaultMatrix
	}
	if c.Parallel == 0 {
		c.Parallel = DefaultParallel
	}
	if c.Rounds == 0 {
		c.Rounds = 1
	}
	if c.Reps == 0 {
		c.Reps = DefaultReps
	}
	if c.GuestBinary == "" {
		return fmt.Errorf("%w: no guest binary", ErrConfig)
	}
	if slices.Contains(c.Parts, PerVM) && len(c.Alone) == 0 {
		return fmt.Errorf("%w: part %s: no suite payload", ErrConfig, PerVM)
	}
	if slices.Contains(c.Parts, Matrix) && len(c.Suite.Loaders) == 0 {
		return fmt.Errorf("%w: part %s: no suite payload", ErrConfig, Matrix)
	}
	if c.CacheDir == "" {
		dir, err := kernel.DefaultCacheDir()
		if err != nil {
			return err
		}
		c.CacheDir = dir
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	return nil
}

// Run measures the configured parts, in the order of Parts. The results hold
// everything measured before an error.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	res := &Results{Machine: machine.Line(), Kernels: cfg.Kernels, Jobs: cfg.Parallel}
	for _, part := range Parts {
		if !slices.Contains(cfg.Parts, part) {
			continue
		}
		var err error
		switch part {
		case PerVM:
			err = runPerVM(ctx, cfg, res)
		case Matrix:
			err = runMatrix(ctx, cfg, res)
		case Boot:
			err = runBoots(ctx, cfg, res)
		}
		if cfg.Out != nil {
			res.writePart(cfg.Out, part) // what it measured, also when it failed
		}
		if err != nil {
			return res, fmt.Errorf("vm bench, part %s: %w", part, err)
		}
	}
	return res, nil
}

// vmOpts are the options of one vmtest.Run: the guest, the payload's files,
// progress, and the out directory DIR/part/sub when logs are kept.
func (c Config) vmOpts(p Payload, parallel int, part, sub string) []vmtest.Option {
	opts := []vmtest.Option{
		vmtest.WithCacheDir(c.CacheDir), vmtest.WithGuestBinary(c.GuestBinary), vmtest.WithParallel(parallel),
		vmtest.WithProgress(func(pr vmtest.Progress) { c.Progress(pr.String()) }),
	}
	for a, files := range p.Files {
		opts = append(opts, vmtest.WithArchFiles(a, files...))
	}
	if c.OutDir != "" {
		opts = append(opts, vmtest.WithOutDir(filepath.Join(c.OutDir, part, sub)))
	}
	return opts
}

// smpTopology is -smp n with every CPU online: the plain topology whose boot
// cost grows with n.
func smpTopology(n int) topology.Topology {
	mask := "0"
	if n > 1 {
		mask = fmt.Sprintf("0-%d", n-1)
	}
	m := result.Masks{Possible: mask, Present: mask, Online: mask}
	return topology.Topology{Name: fmt.Sprintf("smp%d", n), Description: fmt.Sprintf("%d CPUs, all online (bench)", n),
		CPUs: n, Expect: []topology.Expectation{{Series: "6.1", Masks: m}}}
}

// runPerVM boots, one at a time, each payload's suite VM and then a bare VM
// per (round, kernel, -smp): rounds outermost, so drift in the host's load
// spreads over every payload. Each payload has its own initramfs (its own
// adapters only), hence one vmtest.Run per VM.
func runPerVM(ctx context.Context, cfg Config, res *Results) error {
	bare := Payload{}
	for round := 1; round <= cfg.Rounds; round++ {
		for _, k := range cfg.Kernels {
			for _, n := range cfg.SMP {
				t := smpTopology(n)
				for _, p := range append(slices.Clone(cfg.Alone), bare) {
					label := "bare"
					if p.Loaders != nil {
						label = strings.Join(p.Loaders, "+")
					}
					if cfg.Rounds > 1 {
						label += fmt.Sprintf("-round%d", round)
					}
					vms, err := vmtest.Run(ctx, []vmtest.Job{{Kernel: k, Topology: t, Args: p.Args, PayloadTimeout: p.Timeout}}, cfg.vmOpts(p, 1, PerVM, label)...)
					if err != nil {
						return err
					}
					f := figureOf(p, vms[0])
					if cfg.Rounds > 1 {
						f.Round = round
					}
					res.PerVM = append(res.PerVM, f)
				}
			}
		}
	}
	return nil
}

func runMatrix(ctx context.Context, cfg Config, res *Results) error {
	tops, err := topology.Resolve(cfg.Matrix...)
	if err != nil {
		return err
	}
	res.Matrix = cfg.Matrix
	var bare, suiteJobs []vmtest.Job
	for _, k := range cfg.Kernels {
		for _, t := range tops {
			bare = append(bare, vmtest.Job{Kernel: k, Topology: t})
			suiteJobs = append(suiteJobs, vmtest.Job{Kernel: k, Topology: t, Args: cfg.Suite.Args, PayloadTimeout: cfg.Suite.Timeout})
		}
	}
	vms, err := vmtest.Run(ctx, bare, cfg.vmOpts(Payload{}, 1, Matrix, "bare")...)
	if err != nil {
		return err
	}
	for _, vm := range vms {
		res.MatrixBare = append(res.MatrixBare, figureOf(Payload{}, vm))
	}
	start := time.Now()
	if _, err := vmtest.Run(ctx, bare, cfg.vmOpts(Payload{}, cfg.Parallel, Matrix, "bare-parallel")...); err != nil {
		return err
	}
	res.MatrixBareJ = time.Since(start)
	start = time.Now()
	vms, err = vmtest.Run(ctx, suiteJobs, cfg.vmOpts(cfg.Suite, cfg.Parallel, Matrix, "suite")...)
	if err != nil {
		return err
	}
	res.MatrixWall = time.Since(start)
	for _, vm := range vms {
		res.MatrixSuite = append(res.MatrixSuite, figureOf(cfg.Suite, vm))
	}
	return nil
}

func runBoots(ctx context.Context, cfg Config, res *Results) error {
	res.Reps = cfg.Reps
	dir, err := os.MkdirTemp("", "perfconform-bench-boot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	imgs, err := vmboot.BuildImages(ctx, dir, cfg.GuestBinary)
	if err != nil {
		return err
	}
	res.Images = imgs
	byName := map[string]vmboot.Image{}
	for _, i := range imgs {
		byName[i.Name] = i
	}
	kc := &kernel.Cache{Dir: cfg.CacheDir}
	for _, kname := range cfg.Kernels {
		k, err := kc.Resolve(ctx, kname)
		if err != nil {
			return err
		}
		for _, n := range cfg.SMP {
			// One unmeasured boot first: the first boot after a while pays
			// for cold page cache (kernel, image) and QEMU's own start.
			warm := vmboot.Run(ctx, k, n, qemu.AccelTCG, byName["bare"], vmboot.Variants()[0], filepath.Join(dir, "console-warmup.log"))
			cfg.Progress(fmt.Sprintf("boot warm-up %s -smp %d: total %v %s", kname, n, sec(warm.Total), warm.Err))
			// Variants interleaved within each repetition, so drift in the
			// host's load spreads over all of them.
			for rep := range cfg.Reps {
				for _, v := range vmboot.Variants() {
					if v.Probe && rep > 0 {
						continue
					}
					b := vmboot.Run(ctx, k, n, qemu.AccelTCG, byName[v.Image], v, filepath.Join(dir, fmt.Sprintf("console-%s-%d-%d.log", kname, n, rep)))
					cfg.Progress(fmt.Sprintf("boot %s %s -smp %d: init %v, total %v %s", v.Name, kname, n, sec(b.Init), sec(b.Total), b.Err))
					res.Boots = append(res.Boots, b)
				}
			}
		}
	}
	return nil
}

// figureOf is one VM's figure; the payload's loaders make it a suite VM.
func figureOf(p Payload, r vmtest.VMResult) Figure {
	f := Figure{Kernel: r.Kernel.Name, Topology: r.Topology, Payload: "bare", Loaders: p.Loaders, Results: len(r.Results)}
	if len(p.Loaders) > 0 {
		f.Payload = "suite"
	}
	if r.Err != nil {
		f.Err, _, _ = strings.Cut(r.Err.Error(), "\n")
	}
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		f.Total = r.Ended.Sub(r.Started)
	}
	if !r.Booted.IsZero() {
		f.Boot = r.BootTime()
		if f.Total > f.Boot {
			f.AfterBoot = f.Total - f.Boot
		}
		if !r.Done.IsZero() {
			f.Run = r.RunTime()
			f.PowerOff = r.Ended.Sub(r.Done)
		}
	}
	for _, res := range r.Results {
		i := slices.IndexFunc(f.Specs, func(l LoaderTime) bool { return l.Loader == res.Loader })
		if i < 0 {
			f.Specs = append(f.Specs, LoaderTime{Loader: res.Loader})
			i = len(f.Specs) - 1
		}
		f.Specs[i].Duration += res.Duration
		if res.Status == result.Fail || res.Status == result.Error {
			f.Failed++
		}
	}
	return f
}
