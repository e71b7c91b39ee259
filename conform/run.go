package conform

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// DefaultTopologySet is what a VM run boots when the plan names no
// topology.
const DefaultTopologySet = "quick"

// Plan is what one run does. Its errors name the command line flag of each
// field (--loader, --out, --timeout, ...), which is what most plans come
// from.
type Plan struct {
	Loaders      []Loader      // default: the reference
	Host         bool          // run on this machine; otherwise every Kernels × Topologies VM
	Kernels      []string      // catalog names or bzImage paths
	Topologies   []string      // names or sets; default DefaultTopologySet
	Requirements []string      // only these IDs; nil = all
	Parallel     int           // VMs at once; 0 = runtime.NumCPU()
	Timeout      time.Duration // bound on every wait for a loader; 0 = defaults
	OutDir       string        // results.json, junit.xml, report.md, report.html (+ VM logs); must be new or empty
	Force        bool          // let OutDir hold an earlier run's output (replaced when the run starts)
	KeepVMs      bool          // keep each VM's temporary directory
	BinDir       string        // where built-in and Go adapters are built; "" = adapters.DefaultBinDir()
	Gate         Gate
}

// Gate says which results fail a run (report.Gate).
type Gate struct {
	// Loaders are the gated loaders (a bare name: every version of it);
	// nil is the default rule: the reference when it runs, otherwise every
	// loader of the run. "all" alone is the same as All.
	Loaders     []string
	All         bool         // every loader
	Level       result.Level // lowest level whose FAIL gates; "" = result.Must
	AllowErrors bool         // ERROR results and run errors do not gate
	// AllowNoVerdict: a gated loader that got no verdict at all
	// (report.NoVerdict: every result ERROR or SKIP) does not gate either.
	// AllowErrors alone does not allow it.
	AllowNoVerdict bool
	Baselines      map[string]report.Baseline
}

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

// Validate makes every check of p that needs no work: where to run, the
// timeout, requirement IDs, topologies, kernels, -j, loaders a VM can run,
// the gate level. Run calls it first and does nothing when it fails.
func (p Plan) Validate() error {
	if p.Gate.Level != "" && p.Gate.Level != result.Must && p.Gate.Level != result.Should {
		_, err := report.ParseLevel(string(p.Gate.Level))
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
	return nil
}

// Run executes p: on this machine (p.Host) or in one VM per kernel and
// topology, every loader in each. It validates p first and, on any error
// before the run starts, leaves no output directory behind that it created.
// With p.OutDir the reports are written there. When gated results fail, Run
// returns the results and a *GateError.
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
	if p.Gate.Level == "" {
		p.Gate.Level = result.Must
	}
	var vp vmPlan
	if p.Host {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("run --host loads BPF programs and needs root (try: sudo conform run --host)")
		}
	} else {
		var err error
		if vp, err = planVMs(p); err != nil {
			return nil, err
		}
	}
	// The output directory is checked before any work; a run that fails
	// before it starts leaves no directory behind that it created.
	out, err := openOut(p.OutDir, p.Force)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			out.abandon()
		}
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
	gated, err := checkGate(gate, gate != nil, specNames(specs))
	if err != nil {
		return nil, err
	}
	if err := out.clearPrevious(); err != nil {
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
	if p.OutDir != "" {
		if err := report.WriteAll(p.OutDir, doc, report.Options{Impacts: suite.Impacts(), Baselines: p.Gate.Baselines}); err != nil {
			return doc, fmt.Errorf("write results: %w", err)
		}
		o.message(fmt.Sprintf("results written to %s", p.OutDir))
	}
	opt := report.GateOptions{FailLevel: p.Gate.Level, AllowErrors: p.Gate.AllowErrors, AllowNoVerdict: p.Gate.AllowNoVerdict,
		Baselines: p.Gate.Baselines, Loaders: gated}
	violations, err := report.Gate(doc, opt)
	if err != nil {
		return doc, err
	}
	if len(violations) > 0 {
		return doc, &GateError{Violations: violations, Loaders: gated, Level: p.Gate.Level}
	}
	return doc, nil
}

// checkGate returns the loaders gate names (nil: every loader), refusing a
// name that is not a loader of this run. Without a gate (given false) it
// gates the reference when the reference runs (the other loaders' failures
// are findings) and otherwise every loader of the run.
func checkGate(gate []string, given bool, names []string) ([]string, error) {
	if !given {
		if slices.Contains(names, referenceName) {
			return []string{referenceName}, nil
		}
		return nil, nil
	}
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
