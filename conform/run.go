package conform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// DefaultTopologySet is what a VM run boots when the plan names no
// topology.
const DefaultTopologySet = "quick"

// Plan is what one run does. Its errors name the command line flag of each
// field (--loader, --out, --timeout, ...), which is what most plans come
// from. A list field is nil for its default; an empty list that is not nil,
// or an empty name in one, is what an empty flag value gives and is refused
// (ErrEmptyValue).
type Plan struct {
	Loaders      []Loader // default: the reference
	Host         bool     // run on this machine; otherwise every Kernels × Topologies VM
	Kernels      []string // catalog names or bzImage paths
	Topologies   []string // names or sets; default DefaultTopologySet
	Requirements []string // only these IDs (each once, however often named); nil = all
	Parallel     int      // VMs at once; 0 = runtime.NumCPU()
	// LoadersAtOnce bounds the loaders that run side by side in each VM (or
	// on the host); 0 = all of them. Serial runs them one after another,
	// each requirement on loads of its own (the schedule the side-by-side
	// one is proven against: suite.Config.Serial).
	LoadersAtOnce int
	Serial        bool
	Timeout       time.Duration // bound on every wait for a loader; 0 = defaults
	OutDir        string        // results.json, junit.xml, report.md, report.html (+ VM logs); must be new or empty
	Force         bool          // let OutDir hold an earlier run's output (replaced when the run starts)
	KeepVMs       bool          // keep each VM's temporary directory
	BinDir        string        // where built-in and Go adapters are built; "" = adapters.DefaultBinDir()
	// LoaderCPUs (host runs only; a CPU list, a proper subset of the online
	// CPUs) restricts every adapter's affinity to those CPUs, as taskset
	// does, while the suite still writes on every online CPU; the results
	// of adapters carry it (result.Masks.Affinity). No cgroup is made on
	// the host. In VMs the cpuset topology does this, with a cgroup cpuset.
	LoaderCPUs string
	Gate       Gate
}

// Gate says which results fail a run (report.Gate).
type Gate struct {
	// Loaders are the gated loaders (a bare name: every version of it);
	// nil, "all" alone and All are every loader of the run, the reference
	// included when it runs beside others. To gate only the reference
	// (its MUSTs as a check of the suite and the machine), name it.
	Loaders     []string
	All         bool         // every loader
	Level       result.Level // lowest level whose FAIL gates: MUST or SHOULD in any case; "" = result.Must
	AllowErrors bool         // ERROR results and run errors do not gate
	// AllowNoVerdict: a gated loader that got no verdict at all
	// (report.NoVerdict: every result ERROR or SKIP) does not gate either.
	// AllowErrors alone does not allow it.
	AllowNoVerdict bool
	Baselines      map[string]report.Baseline
}

// level is g.Level normalised as report.Gate wants it: MUST or SHOULD in
// upper case, whatever case the plan gave ("must" is what --fail-level
// takes), MUST when empty.
func (g Gate) level() (result.Level, error) {
	if g.Level == "" {
		return result.Must, nil
	}
	l, err := report.ParseLevel(string(g.Level))
	if err != nil {
		return "", fmt.Errorf("--fail-level: %w", err)
	}
	return l, nil
}

// ErrEmptyValue: a plan's list names an empty value (--topology "",
// --gate "", --requirement a,), which must not silently mean the default.
var ErrEmptyValue = errors.New("an empty value names nothing")

// GateError is Run's error when gated results fail; the results were
// written before it is returned.
type GateError struct {
	Violations []report.Violation
	Loaders    []string // the gated loaders; nil = every loader
	Level      result.Level
}

func (e *GateError) Error() string {
	which := "every loader"
	if e.Loaders != nil {
		which = strings.Join(e.Loaders, ",")
	}
	return fmt.Sprintf("%d gating violation(s) for %s at level %s", len(e.Violations), which, e.Level)
}

// Option changes how Run reports and what it boots.
type Option func(*options)

type options struct {
	mu          sync.Mutex
	events      func(Event)
	guestBinary string
}

// WithEvents receives Run's progress and results. Run calls it from several
// goroutines, one call at a time.
func WithEvents(fn func(Event)) Option { return func(o *options) { o.events = fn } }

// WithGuestBinary sets the static binary VMs of its architecture boot as
// /init (it must run GuestMain when started as `/init guest`); by default
// StaticGuest's.
func WithGuestBinary(path string) Option { return func(o *options) { o.guestBinary = path } }

func (o *options) emit(e Event) {
	if o.events == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events(e)
}

func (o *options) message(text string) { o.emit(Message{Text: text}) }

// Validate makes every check of p that needs no work: where to run, empty
// values, the timeout, requirement IDs, topologies, kernels, -j, built-in
// loader names, loaders a VM can run, the output directory (without
// creating it), the gate level. Run calls it first and does nothing when it
// fails.
func (p Plan) Validate() error {
	if _, err := p.Gate.level(); err != nil {
		return err
	}
	if err := checkEmptyValues(p); err != nil {
		return err
	}
	if !p.Host && len(p.Topologies) == 0 && len(p.Kernels) == 0 {
		return fmt.Errorf("say where to run: --host, or --topology and --kernel for VMs")
	}
	if p.Host && (len(p.Topologies) > 0 || len(p.Kernels) > 0) {
		return fmt.Errorf("--host runs on this machine; it does not combine with --topology or --kernel")
	}
	if err := suite.CheckTimeout(p.Timeout); p.Timeout != 0 && err != nil {
		return fmt.Errorf("--timeout: %w", err)
	}
	if p.LoadersAtOnce < 0 {
		return fmt.Errorf("--loaders-at-once %d: want a positive number of loaders (0: all of them)", p.LoadersAtOnce)
	}
	if p.LoaderCPUs != "" {
		if err := checkLoaderCPUs(p); err != nil {
			return err
		}
	}
	if p.Serial && p.LoadersAtOnce > 0 {
		return fmt.Errorf("--serial runs one loader at a time; it does not combine with --loaders-at-once")
	}
	for _, id := range p.Requirements {
		if _, ok := suite.RequirementByID(id); !ok {
			return fmt.Errorf("--requirement %s: unknown requirement (see 'conform spec')", id)
		}
	}
	for _, l := range p.Loaders {
		if err := l.check(p.Host); err != nil {
			return err
		}
	}
	if !p.Host {
		if _, err := planVMs(p); err != nil {
			return err
		}
	}
	if err := checkOut(p.OutDir, p.Force); err != nil {
		return err
	}
	return nil
}

// checkEmptyValues refuses an empty value in p's lists (ErrEmptyValue): an
// empty flag value (--topology "") is an empty list that is not nil, or a
// blank name (--requirement a,); either would silently mean the default or
// nothing.
func checkEmptyValues(p Plan) error {
	for _, l := range []struct {
		flag   string
		values []string
	}{
		{"--kernel", p.Kernels},
		{"--topology", p.Topologies},
		{"--requirement", p.Requirements},
		{"--gate", p.Gate.Loaders},
	} {
		if l.values != nil && (len(l.values) == 0 || slices.ContainsFunc(l.values, func(v string) bool { return strings.TrimSpace(v) == "" })) {
			return fmt.Errorf("%s: %w: %q (leave the flag out for its default)", l.flag, ErrEmptyValue, l.values)
		}
	}
	return nil
}

// Run executes p: on this machine (p.Host) or in one VM per kernel and
// topology, every loader in each. It validates p first and, on any error
// before the run starts, leaves no output directory behind that it created.
// With p.OutDir the reports are written there. When gated results fail, Run
// returns the results and a *GateError. A process makes one host run: a
// second returns an error wrapping suite.ErrSecondRun (package doc).
func Run(ctx context.Context, p Plan, opts ...Option) (*report.Results, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(p.Loaders) == 0 {
		p.Loaders = []Loader{Builtin(referenceName)}
	}
	p.Requirements = unique(p.Requirements) // --requirement X,X checks X once
	p.Gate.Level, _ = p.Gate.level()        // checked by Validate
	var vp vmPlan
	started := false
	if p.Host {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("run --host loads BPF programs and needs root (try: sudo conform run --host)")
		}
		release, err := claimHostRun()
		if err != nil {
			return nil, err
		}
		defer func() {
			if !started {
				release()
			}
		}()
	} else {
		var err error
		if vp, err = planVMs(p); err != nil {
			return nil, err
		}
	}
	// The output directory is checked before any work; a run that fails
	// before it starts leaves no directory behind that it created.
	out, err := openOut(p.OutDir, p.Force, outputNeed(p, vp))
	if err != nil {
		return nil, err
	}
	defer func() {
		if !started {
			out.Abandon()
		}
		out.Close() // after the results are written: a second run waits for them
	}()
	infoTimeout := process.DefaultInfoTimeout
	if p.Timeout > 0 {
		infoTimeout = p.Timeout
	}
	specs, err := resolveLoaderSpecs(ctx, p.Loaders, p.BinDir, infoTimeout, o.message)
	if err != nil {
		return nil, err
	}
	gate := p.Gate.Loaders
	if p.Gate.All {
		gate = append([]string{"all"}, gate...)
	}
	gated, err := checkGate(gate, specNames(specs))
	if err != nil {
		return nil, err
	}
	if err := checkBaselines(p.Gate.Baselines, specNames(specs)); err != nil {
		return nil, err
	}
	if err := out.ClearPrevious(); err != nil {
		return nil, err
	}
	started = true

	var doc *report.Results
	if p.Host {
		doc, err = runOnHost(ctx, o, p, specs)
	} else {
		doc, err = runInVMs(ctx, o, p, vp, specs)
	}
	if err != nil {
		return nil, err
	}
	var writeErr error // an *OutError: the gate is still judged
	if p.OutDir != "" {
		writeErr = writeResults(p.OutDir, doc, ReportOptions(p.Gate.Baselines))
		if writeErr == nil {
			o.message(fmt.Sprintf("results written to %s", p.OutDir))
		}
	}
	opt := report.GateOptions{FailLevel: p.Gate.Level, AllowErrors: p.Gate.AllowErrors, AllowNoVerdict: p.Gate.AllowNoVerdict, Baselines: p.Gate.Baselines, Loaders: gated,
		KnownRequirement: Names().Requirement}
	violations, err := report.Gate(doc, opt)
	if err != nil {
		return doc, errors.Join(writeErr, err)
	}
	if len(violations) > 0 {
		return doc, errors.Join(writeErr, &GateError{Violations: violations, Loaders: gated, Level: p.Gate.Level})
	}
	return doc, writeErr
}

// outputNeed is about the space a run's --out takes (the reports of every
// result, each VM's logs), generously: what is checked free before the run.
func outputNeed(p Plan, vp vmPlan) int64 {
	runs := max(len(vp.kernels)*len(vp.tops), 1)
	cells := runs * max(len(p.Loaders), 1) * len(requirementsOf(p.Requirements))
	need := int64(1<<20) + int64(cells)*8<<10
	if !p.Host {
		need += int64(runs) << 20 // console.log, events.jsonl, vm.json
	}
	return need
}

// checkGate returns the loaders gate names (nil: every loader), refusing a
// name that is not a loader of this run. No gate, like "all", is every
// loader of the run: the loaders the user brought, the reference too when it
// is there for comparison (it passes its MUSTs, and a reference that does not
// is worth a failed run), so adding the reference never takes the gate from
// the loader under test.
func checkGate(gate []string, names []string) ([]string, error) {
	if len(gate) == 0 || slices.Contains(gate, "all") {
		if len(gate) > 1 {
			return nil, fmt.Errorf("--gate all gates every loader; it does not combine with %q", gate)
		}
		return nil, nil
	}
	for _, g := range gate {
		// A bare name gates every version of that loader (libbpf:
		// libbpf@1.1 and libbpf@1.4), a full one that version only.
		pattern := result.ParseLoaderName(g)
		if !slices.ContainsFunc(names, pattern.Selects) {
			return nil, fmt.Errorf("--gate %s: no loader of this run is called %q (loaders: %s)", g, g, strings.Join(names, ", "))
		}
	}
	return gate, nil
}

// checkBaselines refuses a baseline filed under a loader name (bare: every
// version) that no loader of this run carries: its deviations would never
// match, silently.
func checkBaselines(baselines map[string]report.Baseline, names []string) error {
	for _, l := range slices.Sorted(maps.Keys(baselines)) {
		if !slices.ContainsFunc(names, result.ParseLoaderName(l).Selects) {
			return fmt.Errorf("--baseline for loader %q: no loader of this run is called %q (loaders: %s): its deviations would never match", l, l, strings.Join(names, ", "))
		}
	}
	return nil
}

// unique is names without repeats, in their first order.
func unique(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// requirementsOf is the requirements a run focused on focus checks.
func requirementsOf(focus []string) []suite.Requirement {
	var reqs []suite.Requirement
	for _, r := range suite.Requirements {
		if len(focus) == 0 || slices.Contains(focus, r.ID) {
			reqs = append(reqs, r)
		}
	}
	return reqs
}

func parallelOf(n int) int {
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// checkLoaderCPUs: --loader-cpus is for the host (VMs have the cpuset
// topology), a CPU list, and leaves the loaders fewer online CPUs than there
// are, but at least one.
func checkLoaderCPUs(p Plan) error {
	if !p.Host {
		return fmt.Errorf("--loader-cpus %s: host runs only; in VMs use --topology cpuset", p.LoaderCPUs)
	}
	cpus, err := topology.ParseCPUList(p.LoaderCPUs)
	if err != nil {
		return fmt.Errorf("--loader-cpus: %w", err)
	}
	online, err := topology.Read("")
	if err != nil {
		return fmt.Errorf("--loader-cpus: %w", err)
	}
	if out := cpus.Difference(online.Online); !out.Empty() {
		return fmt.Errorf("--loader-cpus %s: CPUs %s are not online (online: %s)", cpus, out, online.Online)
	}
	if online.Online.Difference(cpus).Empty() {
		return fmt.Errorf("--loader-cpus %s: that is every online CPU (%s), which restricts nothing", cpus, online.Online)
	}
	return nil
}
