package suite

import (
	"context"
	"errors"
	"fmt"
	"github.com/perfconform/perfconform/internal/nswrap"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/formatter"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/protocol"
	bpffixtures "github.com/perfconform/perfconform/fixtures/bpf"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite/trigger"
)

// ErrEnvironment is wrapped when this machine cannot run the suite at all
// (not root, a kernel older than trigger.MinKernel, no bpffs, no sysfs CPU
// masks).
var ErrEnvironment = errors.New("environment cannot run the suite")

// DefaultTimeout is Config.Timeout when none is given.
const DefaultTimeout = 10 * time.Second

// MinTimeout is the shortest Config.Timeout the suite accepts. A sample the
// loader's reader does not deliver within the timeout is a FAIL, so the
// timeout must leave room for a healthy reader on a busy machine: samples
// arrive within milliseconds on the host, but a 2-core machine running
// several VMs under TCG stalls a guest for hundreds of milliseconds at a
// time. Below a second such a stall, not the loader, would decide verdicts.
const MinTimeout = time.Second

// MaxTimeout is the longest Config.Timeout: an hour for one sample is
// beyond any emulation's stall, and the VM bounds derived from it must stay
// far from overflowing.
const MaxTimeout = time.Hour

// CheckTimeout returns why d cannot bound the suite's waits, or nil.
func CheckTimeout(d time.Duration) error {
	if d > MaxTimeout {
		return fmt.Errorf("%v is longer than %v: no stall of a machine or an emulator lasts that long, and the VM's bounds are derived from it", d, MaxTimeout)
	}
	if d < MinTimeout {
		return fmt.Errorf("%v is too short: at least %v, or a stalled machine rather than the loader would decide verdicts", d, MinTimeout)
	}
	return nil
}

// NamedLoader is a loader under test and the name its results carry.
type NamedLoader struct {
	Name   string
	Loader Loader
}

// Config configures one run of the suite.
type Config struct {
	Loaders []NamedLoader
	// Pages is the per-CPU ring size in pages (default 8).
	Pages int
	// PinRoot is a bpffs directory under which every load gets its own pin
	// directory (default /sys/fs/bpf/perfconform).
	PinRoot string
	// SysfsRoot is where the suite reads the CPU masks it judges loaders
	// against (default /sys/devices/system/cpu).
	SysfsRoot string
	// PossibleCPUsFile, when set, is what every load asks the loader to see
	// as /sys/devices/system/cpu/possible (LoadRequest.PossibleCPUsFile;
	// process adapters get it in a mount namespace), unless a requirement
	// substitutes its own (DEGRADE-POSSIBLE). With SysfsRoot a fake tree
	// holding this file, adapters are judged against possible CPUs this
	// machine does not have, e.g. offline ones (the suite's own tests).
	PossibleCPUsFile string
	// Focus, when set, runs only these requirement IDs.
	Focus []string
	// Timeout bounds how long the suite waits for a loader's info and for
	// one sample (DefaultTimeout when zero, at least MinTimeout; VMs under
	// TCG want more). Adapters bound their own wait for ready.
	Timeout time.Duration
	// Log receives Ginkgo's own report (default: discarded).
	Log io.Writer
	// OnResult is called with each result as soon as it is known.
	OnResult func(result.Result)
	// OnCheck, if set, is called when the check of one requirement against
	// one loader starts (for progress displays).
	OnCheck func(loader, requirement string)
	// Serial runs the loaders one after another, every requirement on loads
	// of its own and every CPU change for one loader: the schedule from
	// before loaders ran side by side, kept to prove the two give the same
	// verdicts. By default loaders run side by side (see schedule.go).
	Serial bool
	// Parallel bounds how many loaders run side by side (0: all of them).
	// Kernels that charge BPF memory to RLIMIT_MEMLOCK run one at a time
	// unless adapters get accounts of their own (LoadersAtOnce).
	Parallel int
	// Hotplug lets the RING-HOTPLUG-* checks take CPUs offline and bring them
	// online through cpuN/online under SysfsRoot (putting them back after).
	// Without it they SKIP. The VM guest sets it; a host run must not.
	Hotplug bool
}

// ErrSecondRun is Run's error when the suite already ran in this process:
// Ginkgo runs once per process (a second RunSpecs exits the program).
var ErrSecondRun = errors.New("the suite already ran in this process (Ginkgo runs once per process): put every loader into one run")

var ran atomic.Bool

// Run runs every requirement against every loader and returns one result per
// (loader, requirement). Ginkgo allows one suite run per process, so Run may be
// called once; a second call returns ErrSecondRun before doing anything.
func Run(ctx context.Context, cfg Config) ([]result.Result, error) {
	if !ran.CompareAndSwap(false, true) {
		return nil, ErrSecondRun
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	env, cleanup, err := newEnvironment(cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	env.runCtx = ctx
	rec := &recorder{onResult: cfg.OnResult, emitMu: &env.emitMu}
	reqs := cfg.requirements()
	infos := make([]protocol.Info, len(cfg.Loaders))
	infoErrs := make([]error, len(cfg.Loaders))
	var wg sync.WaitGroup
	for i, nl := range cfg.Loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], infoErrs[i] = infoWithTimeout(ctx, nl.Loader, cfg.Timeout)
		}()
		if cfg.Serial {
			wg.Wait() // one loader after another, as the serial schedule runs them
		}
	}
	wg.Wait()
	masks := &result.Masks{Possible: env.topo.Possible.String(), Present: env.topo.Present.String(), Online: env.topo.Online.String()}
	var runs []*loaderRun
	for i, nl := range cfg.Loaders {
		if err := infoErrs[i]; err != nil {
			// Without info the loader cannot be run at all: every
			// requirement is an ERROR carrying the reason.
			for _, req := range reqs {
				rec.add(result.Result{
					Requirement: req.ID, Level: req.Level, Status: result.Error, Loader: nl.Name,
					Detail: fmt.Sprintf("loader info: %v", err),
				})
			}
			continue
		}
		runs = append(runs, &loaderRun{nl: nl, info: infos[i], masks: masks, shared: &perLoader{}})
	}
	if len(runs) == 0 || len(reqs) == 0 {
		return rec.sorted(cfg.Loaders), nil
	}
	if cfg.Serial {
		env.registerSerial(rec, runs, reqs)
	} else {
		env.registerSideBySide(rec, runs, reqs, cfg.LoadersAtOnce(len(runs)))
	}

	suiteConfig, reporterConfig := ginkgo.GinkgoConfiguration()
	suiteConfig.RandomizeAllSpecs = false
	suiteConfig.Timeout = 24 * time.Hour
	reporterConfig.NoColor = true
	reporterConfig.Succinct = true
	// Ginkgo writes its default reporter to this package variable; the CLI
	// prints its own lines, so Ginkgo's go where the caller wants them.
	formatter.ColorableStdOut = cfg.Log
	ginkgo.RunSpecs(silentT{}, "perfconform", suiteConfig, reporterConfig)
	rec.fillMissing(cfg.Loaders, reqs)
	return rec.sorted(cfg.Loaders), nil
}

// LoadersAtOnce is how many of n loaders run side by side: one in a serial
// run; otherwise Config.Parallel (all when 0). On kernels that charge BPF
// memory to RLIMIT_MEMLOCK (before 5.11) the charge is per user, so
// adapters side by side could exhaust one another's limit where a serial
// run would not: there every adapter process runs as a user of its own
// (nswrap.EnvAccount, with root's capabilities), which needs root; without
// root they run one at a time, which keeps their verdicts those of a
// serial run. (In-process loaders share the suite's limit, which it raised
// to unlimited.) Callers that bound a loader's own waits (the VM guest's
// process client) scale them by it.
func (cfg Config) LoadersAtOnce(n int) int {
	k := cfg.Parallel
	if k <= 0 || k > n {
		k = n
	}
	if cfg.Serial || bpfsys.MemlockCharged() && !nswrap.SeparateAccounts() {
		k = 1
	}
	return max(k, 1)
}

func (cfg *Config) defaults() error {
	if len(cfg.Loaders) == 0 {
		return errors.New("suite: no loader to run")
	}
	if cfg.Pages == 0 {
		cfg.Pages = 8
	}
	if err := perfring.CheckPages(cfg.Pages); err != nil {
		return fmt.Errorf("suite: %w", err)
	}
	if cfg.PinRoot == "" {
		cfg.PinRoot = "/sys/fs/bpf/perfconform"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := CheckTimeout(cfg.Timeout); err != nil {
		return fmt.Errorf("suite: timeout %w", err)
	}
	if cfg.Parallel < 0 {
		return fmt.Errorf("suite: %d loaders side by side: want 0 (all) or more", cfg.Parallel)
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	for _, id := range cfg.Focus {
		if _, ok := RequirementByID(id); !ok {
			return fmt.Errorf("suite: unknown requirement %q (see `conform spec`)", id)
		}
	}
	return nil
}

func (cfg *Config) requirements() []Requirement {
	if len(cfg.Focus) == 0 {
		return Requirements
	}
	var out []Requirement
	for _, r := range Requirements {
		for _, id := range cfg.Focus {
			if r.ID == id {
				out = append(out, r)
			}
		}
	}
	return out
}

func infoWithTimeout(ctx context.Context, l Loader, d time.Duration) (protocol.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return l.Info(ctx)
}

// suiteTempPrefix names the suite's temporary directory (fixture files, the
// DEGRADE-POSSIBLE file) under os.TempDir().
const suiteTempPrefix = "perfconform-suite-"

// environment is what every check shares: fixture files, the pin root, and the
// masks the kernel reports (the oracle, read by the suite itself).
type environment struct {
	runCtx   context.Context // Run's: ending it interrupts every check
	emitMu   sync.Mutex      // OnCheck and OnResult calls never overlap
	cfg      Config
	fixtures map[string]string
	topo     topology.Topology
	tmp      string
	pinSeq   int
	pinMu    sync.Mutex
}

func newEnvironment(cfg Config) (*environment, func(), error) {
	if os.Geteuid() != 0 {
		return nil, nil, fmt.Errorf("%w: it loads BPF programs and must run as root (uid %d)", ErrEnvironment, os.Geteuid())
	}
	if err := checkBPFFS(filepath.Dir(cfg.PinRoot)); err != nil {
		return nil, nil, err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, nil, fmt.Errorf("%w: uname: %w", ErrEnvironment, err)
	}
	if err := trigger.CheckKernel(unix.ByteSliceToString(uts.Release[:])); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEnvironment, err)
	}
	topo, err := topology.Read(cfg.SysfsRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEnvironment, err)
	}
	// The suite's own BPF objects (trigger programs, foreign pins, and what
	// cilium/ebpf probes on their behalf) must not fail on kernels that
	// charge them to RLIMIT_MEMLOCK (before 5.11). Adapter processes still
	// start with the limit this process had (see adapters/process).
	if err := bpfsys.RaiseMemlock(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEnvironment, err)
	}
	// The fixtures' directory is locked while this run lives, so the next
	// run removes one a killed run left behind (filelock.RemoveStale).
	filelock.RemoveStale("", suiteTempPrefix)
	tmp, releaseTmp, err := filelock.MkdirLocked("", suiteTempPrefix)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrEnvironment, err)
	}
	fixtures, err := bpffixtures.WriteAll(filepath.Join(tmp, "fixtures"))
	if err != nil {
		os.RemoveAll(tmp)
		releaseTmp()
		return nil, nil, fmt.Errorf("%w: write fixtures: %w", ErrEnvironment, err)
	}
	removeStalePinDirs(cfg.PinRoot)
	pinRoot := filepath.Join(cfg.PinRoot, fmt.Sprintf("run-%d", os.Getpid()))
	if err := os.MkdirAll(pinRoot, 0o700); err != nil {
		os.RemoveAll(tmp)
		releaseTmp()
		return nil, nil, fmt.Errorf("%w: create pin root: %w", ErrEnvironment, err)
	}
	cfg.PinRoot = pinRoot
	env := &environment{cfg: cfg, fixtures: fixtures, topo: topo, tmp: tmp}
	return env, func() {
		os.RemoveAll(pinRoot) // unpins whatever a check left behind
		os.Remove(filepath.Dir(pinRoot))
		os.RemoveAll(tmp)
		releaseTmp()
	}, nil
}

// removeStalePinDirs removes the run-PID pin directories under root whose
// process is gone: what a run killed with SIGKILL left pinned. A directory
// of a live process (another run going on now) is never touched.
func removeStalePinDirs(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "run-%d", &pid); err != nil || pid <= 0 || e.Name() != fmt.Sprintf("run-%d", pid) {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
			continue // alive
		}
		os.RemoveAll(filepath.Join(root, e.Name()))
	}
}

// checkBPFFS makes sure dir is on a bpffs mount, so pins can be created.
func checkBPFFS(dir string) error {
	if err := bpfsys.CheckBPFFS(dir); err != nil {
		return fmt.Errorf("%w: %w", ErrEnvironment, err)
	}
	return nil
}

// newPinDir returns a fresh, empty pin directory for one load.
func (e *environment) newPinDir(tag string) (string, error) {
	e.pinMu.Lock()
	e.pinSeq++
	n := e.pinSeq
	e.pinMu.Unlock()
	dir := filepath.Join(e.cfg.PinRoot, fmt.Sprintf("%03d-%s", n, strings.ToLower(tag)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("pin dir: %w", err)
	}
	return dir, nil
}

// silentT receives Ginkgo's overall verdict; the suite reports per result,
// so a failing loader is data, not a crashed run.
type silentT struct{}

func (silentT) Fail() {}
