package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/conform/display"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/suite"
)

func init() {
	var (
		p                  conform.Plan
		loaders, baselines []string
		failLevel          string
		strict             bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the conformance suite on this machine (--host) or in QEMU VMs (--topology/--kernel)",
		Long: `Run the conformance suite against one or more loaders and print one line per
(loader, requirement). The exit status is 1 when a requirement at or above
--fail-level failed (or errored, unless --allow-errors) for a gated loader:
every loader of the run unless --gate names some (a reference run beside a
loader for comparison is gated too, never instead of it).
A gated loader that got no verdict at all (not one PASS or FAIL: every result
ERROR or SKIP) fails the run too, even with --allow-errors, unless
--allow-no-verdict; the summary names every such loader.

Loaders are built-in names (reference, cilium-ebpf, libbpf, bpftool,
libbpfgo; see 'conform adapters') or paths of adapter executables
(docs/ADAPTERS.md). A built-in name may carry a version (libbpf@1.4,
cilium-ebpf@v0.12.3); a bare name runs the default version. Results carry the loader name each adapter's
info line declares, which for a built-in is its full name: --loader libbpf
reports as libbpf@1.1. --gate and --baseline take either form: a bare name
covers every version of that loader in the run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if p.Gate.Level, err = report.ParseLevel(failLevel); err != nil {
				return err
			}
			if p.Gate.Baselines, err = loadBaselines(cmd.ErrOrStderr(), baselines, strict); err != nil {
				return err
			}
			for _, l := range loaders {
				p.Loaders = append(p.Loaders, conform.ParseLoader(l))
			}
			return runRun(cmd, p)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&p.Host, "host", false, "run on this machine instead of in VMs")
	fl.StringSliceVar(&p.Topologies, "topology", nil, "topologies or sets to run in VMs (default "+conform.DefaultTopologySet+" when --kernel is given; see 'conform topologies')")
	fl.StringSliceVar(&p.Kernels, "kernel", nil, "kernels to boot: catalog names or image paths (see 'conform kernels list')")
	fl.StringArrayVar(&loaders, "loader", nil, "loader to check: built-in name or adapter path (repeatable; default reference)")
	fl.IntVarP(&p.Parallel, "jobs", "j", 0, "VMs to run at once (default: number of host cores)")
	fl.IntVar(&p.LoadersAtOnce, "loaders-at-once", 0, "loaders to run side by side in each VM or on the host (default: all of them; one at a time on kernels that charge BPF memory to RLIMIT_MEMLOCK when not root)")
	fl.BoolVar(&p.Serial, "serial", false, "run the loaders one after another, every requirement on loads of its own (the schedule side by side is proven against)")
	fl.StringVar(&p.OutDir, "out", "", "write results.json, junit.xml, report.md and report.html (and VM logs) into this directory, which must be empty or new")
	fl.BoolVar(&p.Force, "force", false, "let --out hold an earlier run's output, and replace it")
	fl.BoolVar(&p.KeepVMs, "keep", false, "keep each VM's temporary directory")
	fl.StringVar(&failLevel, "fail-level", "must", "lowest level whose failure fails the run: must or should")
	fl.StringSliceVar(&p.Gate.Loaders, "gate", nil, "loaders whose failures fail the run (a bare name: every version of it), or 'all' (default: every loader of the run, the reference included; --gate reference gates the reference alone)")
	fl.BoolVar(&p.Gate.AllowErrors, "allow-errors", false, "do not fail the run on ERROR results (a gated loader with no verdict at all still fails it)")
	fl.BoolVar(&p.Gate.AllowNoVerdict, "allow-no-verdict", false, "do not fail the run when a gated loader got no verdict at all (every result ERROR or SKIP)")
	fl.StringArrayVar(&baselines, "baseline", nil, "baseline file of known deviations for a loader (repeatable)")
	fl.BoolVar(&strict, "strict", false, strictBaselinesHelp)
	fl.StringSliceVar(&p.Requirements, "requirement", nil, "run only these requirement IDs")
	fl.StringVar(&p.BinDir, "bin-dir", "", "where built-in adapters are built (default: the user cache directory)")
	fl.StringVar(&p.LoaderCPUs, "loader-cpus", "", "with --host: run every adapter with its affinity restricted to these CPUs (a CPU list, fewer than are online), as under taskset or a Kubernetes cpuset; the suite still writes on every CPU (VMs: --topology cpuset)")
	fl.DurationVar(&p.Timeout, "timeout", 0, fmt.Sprintf("bound on every wait for a loader: its info, its ready line, each sample (default: %v per sample on the host, %v under TCG, %v for info and %v for ready; at least %v, at most %v)",
		suite.DefaultTimeout, conform.TCGSampleTimeout, process.DefaultInfoTimeout, process.DefaultReadyTimeout, suite.MinTimeout, conform.MaxTimeout))
	rootCmd.AddCommand(cmd)
}

// runRun runs p, printing results and progress as they come, then the
// summary line; gating violations become exit status 1, results --out
// could not take (a *conform.OutError, saying where they went) status 2.
func runRun(cmd *cobra.Command, p conform.Plan) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// stdout closed (| head): with --out the run goes on and writes its
	// results there; without, nothing would keep them, so it stops as on
	// Ctrl-C, cleaning up.
	stdout := display.ClosedPipe(cmd.OutOrStdout(), func() {
		if p.OutDir != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "conform: stdout was closed; the run goes on and writes its results to %s\n", p.OutDir)
			return
		}
		cancel(errors.New("stdout was closed, and without --out the results have nowhere to go"))
	})
	d := display.New(stdout, cmd.ErrOrStderr())
	defer d.Stop()
	doc, err := conform.Run(ctx, p, conform.WithEvents(d.Event))
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	var gate *conform.GateError
	var out *conform.OutError
	if doc == nil || (err != nil && !errors.As(err, &gate) && !errors.As(err, &out)) {
		return err
	}
	display.PrintSummary(stdout, doc.Results)
	if gate != nil {
		for _, v := range gate.Violations {
			fmt.Fprintln(cmd.ErrOrStderr(), "gate:", display.Text(v.String()))
		}
	}
	switch {
	case out != nil:
		return out // status 2: the results are not (all) where asked
	case gate != nil:
		return &exitError{code: 1, msg: gate.Error()}
	}
	return nil
}
