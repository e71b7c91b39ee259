package main

import (
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
--fail-level failed (or errored, unless --allow-errors) for a gated loader, or
when a gated loader got no verdict at all (not one PASS or FAIL: every result
ERROR or SKIP; unless --allow-no-verdict), which the summary names.

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
	fl.StringVar(&p.OutDir, "out", "", "write results.json, junit.xml, report.md and report.html (and VM logs) into this directory, which must be empty or new")
	fl.BoolVar(&p.Force, "force", false, "let --out hold an earlier run's output, and replace it")
	fl.BoolVar(&p.KeepVMs, "keep", false, "keep each VM's temporary directory")
	fl.StringVar(&failLevel, "fail-level", "must", "lowest level whose failure fails the run: must or should")
	fl.StringSliceVar(&p.Gate.Loaders, "gate", nil, "loaders whose failures fail the run (a bare name: every version of it), or 'all' (default: the reference when it runs, otherwise every loader of the run)")
	fl.BoolVar(&p.Gate.AllowErrors, "allow-errors", false, "do not fail the run on ERROR results (a gated loader with no verdict at all still fails it)")
	fl.BoolVar(&p.Gate.AllowNoVerdict, "allow-no-verdict", false, "do not fail the run when a gated loader got no verdict at all (every result ERROR or SKIP)")
	fl.StringArrayVar(&baselines, "baseline", nil, "baseline file of known deviations for a loader (repeatable)")
	fl.BoolVar(&strict, "strict", false, strictBaselinesHelp)
	fl.StringSliceVar(&p.Requirements, "requirement", nil, "run only these requirement IDs")
	fl.StringVar(&p.BinDir, "bin-dir", "", "where built-in adapters are built (default: the user cache directory)")
	fl.DurationVar(&p.Timeout, "timeout", 0, fmt.Sprintf("bound on every wait for a loader: its info, its ready line, each sample (default: %v per sample on the host, %v under TCG, %v for info and %v for ready; at least %v)",
		suite.DefaultTimeout, conform.TCGSampleTimeout, process.DefaultInfoTimeout, process.DefaultReadyTimeout, suite.MinTimeout))
	rootCmd.AddCommand(cmd)
}

// runRun runs p, printing results and progress as they come, then the
// summary line; gating violations become exit status 1.
func runRun(cmd *cobra.Command, p conform.Plan) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := display.New(cmd.OutOrStdout(), cmd.ErrOrStderr())
	defer d.Stop()
	doc, err := conform.Run(ctx, p, conform.WithEvents(d.Event))
	var gate *conform.GateError
	if doc == nil || (err != nil && !errors.As(err, &gate)) {
		return err
	}
	display.PrintSummary(cmd.OutOrStdout(), doc.Results)
	if gate == nil {
		return nil
	}
	for _, v := range gate.Violations {
		fmt.Fprintln(cmd.ErrOrStderr(), "gate:", v)
	}
	return &exitError{code: 1, msg: gate.Error()}
}
