package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// defaultTopologySet is what a VM run boots without --topology.
const defaultTopologySet = "quick"

type runFlags struct {
	host        bool
	topologies  []string
	kernels     []string
	loaders     []string
	parallel    int
	out         string
	force       bool
	keep        bool
	failLevel   string
	gate        []string
	gateGiven   bool
	allowErrors bool
	baselines   []string
	strict      bool
	focus       []string
	binDir      string
	timeout     time.Duration
}

func init() {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the conformance suite on this machine (--host) or in QEMU VMs (--topology/--kernel)",
		Long: `Run the conformance suite against one or more loaders and print one line per
(loader, requirement). The exit status is 1 when a requirement at or above
--fail-level failed (or errored, unless --allow-errors) for a gated loader.

Loaders are built-in names (reference, cilium-ebpf, libbpf, bpftool,
libbpfgo; see 'conform adapters') or paths of adapter executables
(docs/ADAPTERS.md). A built-in name may carry a version (libbpf@1.4,
cilium-ebpf@v0.12.3); a bare name runs the default version. Results carry the loader name each adapter's
info line declares, which for a built-in is its full name: --loader libbpf
reports as libbpf@1.1. --gate and --baseline take either form: a bare name
covers every version of that loader in the run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.gateGiven = cmd.Flags().Changed("gate")
			return runRun(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.host, "host", false, "run on this machine instead of in VMs")
	fl.StringSliceVar(&f.topologies, "topology", nil, "topologies or sets to run in VMs (default "+defaultTopologySet+" when --kernel is given; see 'conform topologies')")
	fl.StringSliceVar(&f.kernels, "kernel", nil, "kernels to boot: catalog names or image paths (see 'conform kernels list')")
	fl.StringArrayVar(&f.loaders, "loader", nil, "loader to check: built-in name or adapter path (repeatable; default reference)")
	fl.IntVarP(&f.parallel, "jobs", "j", 0, "VMs to run at once (default: number of host cores)")
	fl.StringVar(&f.out, "out", "", "write results.json, junit.xml, report.md and report.html (and VM logs) into this directory, which must be empty or new")
	fl.BoolVar(&f.force, "force", false, "let --out hold an earlier run's output, and replace it")
	fl.BoolVar(&f.keep, "keep", false, "keep each VM's temporary directory")
	fl.StringVar(&f.failLevel, "fail-level", "must", "lowest level whose failure fails the run: must or should")
	fl.StringSliceVar(&f.gate, "gate", nil, "loaders whose failures fail the run (a bare name: every version of it), or 'all' (default: the reference when it runs, otherwise every loader of the run)")
	fl.BoolVar(&f.allowErrors, "allow-errors", false, "do not fail the run on ERROR results")
	fl.StringArrayVar(&f.baselines, "baseline", nil, "baseline file of known deviations for a loader (repeatable)")
	fl.BoolVar(&f.strict, "strict", false, strictBaselinesHelp)
	fl.StringSliceVar(&f.focus, "requirement", nil, "run only these requirement IDs")
	fl.StringVar(&f.binDir, "bin-dir", "", "where built-in adapters are built (default: the user cache directory)")
	fl.DurationVar(&f.timeout, "timeout", 0, fmt.Sprintf("bound on every wait for a loader: its info, its ready line, each sample (default: %v per sample on the host, %v under TCG, %v for info and %v for ready; at least %v)",
		suite.DefaultTimeout, TCGSampleTimeout, process.DefaultInfoTimeout, process.DefaultReadyTimeout, suite.MinTimeout))
	rootCmd.AddCommand(cmd)
}

func runRun(cmd *cobra.Command, f runFlags) (err error) {
	level, err := report.ParseLevel(f.failLevel)
	if err != nil {
		return err
	}
	baselines, err := loadBaselines(cmd.ErrOrStderr(), f.baselines, f.strict)
	if err != nil {
		return err
	}
	if !f.host && len(f.topologies) == 0 && len(f.kernels) == 0 {
		return fmt.Errorf("say where to run: --host, or --topology and --kernel for VMs")
	}
	if f.host && (len(f.topologies) > 0 || len(f.kernels) > 0) {
		return fmt.Errorf("--host runs on this machine; it does not combine with --topology or --kernel")
	}
	if err := suite.CheckTimeout(f.timeout); f.timeout != 0 && err != nil {
		return fmt.Errorf("--timeout: %w", err)
	}
	for _, id := range f.focus {
		if _, ok := suite.RequirementByID(id); !ok {
			return fmt.Errorf("--requirement %s: unknown requirement (see 'conform spec')", id)
		}
	}
	if len(f.loaders) == 0 {
		f.loaders = []string{refadapter.Info.Loader}
	}
	var plan vmPlan
	if f.host {
		if os.Geteuid() != 0 {
			return fmt.Errorf("run --host loads BPF programs and needs root (try: sudo conform run --host)")
		}
	} else if plan, err = planVMs(f); err != nil {
		return err
	}
	// --out is checked before any work; a run that fails before it starts
	// leaves no directory behind that it created.
	out, err := openOut(f.out, f.force)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			out.abandon()
		}
	}()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	line := func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }
	infoTimeout := process.DefaultInfoTimeout
	if f.timeout > 0 {
		infoTimeout = f.timeout
	}
	specs, err := resolveLoaderSpecs(ctx, f.loaders, f.binDir, infoTimeout, line)
	if err != nil {
		return err
	}
	gated, err := checkGate(f.gate, f.gateGiven, specNames(specs))
	if err != nil {
		return err
	}
	if err := out.clearPrevious(); err != nil {
		return err
	}
	started = true

	var doc *report.Results
	if f.host {
		doc, err = runOnHost(ctx, cmd, f, specs)
	} else {
		doc, err = runInVMs(ctx, cmd, f, plan, specs)
	}
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := report.WriteAll(f.out, doc, report.Options{Impacts: suite.Impacts(), Baselines: baselines}); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "results written to %s\n", f.out)
	}
	return gate(cmd, doc, level, gated, f.allowErrors, baselines)
}

// gate prints the summary and turns gating violations into the exit status;
// loaders nil gates every loader.
func gate(cmd *cobra.Command, doc *report.Results, level result.Level, loaders []string, allowErrors bool, baselines map[string]report.Baseline) error {
	n := countStatuses(doc.Results)
	// Requirement results, not test results: a loader's FAIL is a finding,
	// and the exit status says whether the gated loaders pass.
	fmt.Fprintf(cmd.OutOrStdout(), "requirement results: %d PASS, %d FAIL, %d ERROR, %d SKIP\n",
		n[result.Pass], n[result.Fail], n[result.Error], n[result.Skip])
	opts := report.GateOptions{FailLevel: level, AllowErrors: allowErrors, Baselines: baselines, Loaders: loaders}
	violations, err := report.Gate(doc, opts)
	if err != nil {
		return err
	}
	if len(violations) == 0 {
		return nil
	}
	for _, v := range violations {
		fmt.Fprintln(cmd.ErrOrStderr(), "gate:", v)
	}
	which := "every loader"
	if loaders != nil {
		which = strings.Join(loaders, ",")
	}
	return &exitError{code: 1, msg: fmt.Sprintf("%d gating violation(s) for %s at level %s", len(violations), which, level)}
}

// adapterNames lists the built-in names --loader takes: each adapter's
// full name, and the bare name of each default version.
func adapterNames() string {
	var names []string
	for _, a := range adapters.All() {
		if a.Default {
			names = append(names, a.Base())
		}
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

func runOnHost(ctx context.Context, cmd *cobra.Command, f runFlags, specs []loaderSpec) (*report.Results, error) {
	topo, err := topology.Read("")
	if err != nil {
		return nil, err
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	started := time.Now()
	disp := newHostDisplay(cmd.OutOrStdout(), cmd.ErrOrStderr(), len(specs)*len(requirementsOf(f.focus)))
	defer disp.stop()
	results, err := suite.Run(ctx, suite.Config{
		Loaders:  hostLoaders(specs, f.timeout),
		Focus:    f.focus,
		Timeout:  f.timeout,
		Log:      ginkgoLog(),
		OnCheck:  disp.onCheck,
		OnResult: disp.onResult,
	})
	disp.stop()
	if err != nil {
		return nil, err
	}
	masks := &result.Masks{Possible: topo.Possible.String(), Present: topo.Present.String(), Online: topo.Online.String()}
	run := report.Run{
		Kernel: report.Kernel{Name: "host", Version: release, Arch: runtime.GOARCH}, Topology: "host", Masks: masks, Realized: true,
		Accelerator: "host", Started: started, Duration: time.Since(started),
	}
	seen := map[string]bool{}
	for i := range results {
		r := &results[i]
		r.Kernel, r.Topology, r.Accelerator = "host", "host", "host"
		if !seen[r.Loader] {
			seen[r.Loader] = true
			run.Loaders = append(run.Loaders, report.Loader{Name: r.Loader, Version: r.LoaderVersion})
		}
	}
	return &report.Results{Generated: time.Now().UTC(), Runs: []report.Run{run}, Results: results}, nil
}

// requirementsOf is the requirements a run with --requirement focus checks.
func requirementsOf(focus []string) []suite.Requirement {
	var reqs []suite.Requirement
	for _, r := range suite.Requirements {
		if len(focus) == 0 || contains(focus, r.ID) {
			reqs = append(reqs, r)
		}
	}
	return reqs
}

// ginkgoLog is where Ginkgo's own report goes: PERFCONFORM_GINKGO_LOG=stderr
// shows it when debugging the suite.
func ginkgoLog() io.Writer {
	if os.Getenv("PERFCONFORM_GINKGO_LOG") == "stderr" {
		return os.Stderr
	}
	return io.Discard
}
