package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/report"
)

var reportCmd = &cobra.Command{
	Use:   "report",
	Short: "Merge results into reports (results.json, junit.xml, report.md, report.html) and gate on them",
}

var reportMergeFlags struct {
	out       string
	force     bool
	impacts   string
	upstream  string
	baselines []string
	strict    bool
}

var reportMergeCmd = &cobra.Command{
	Use:   "merge DIR... --out DIR",
	Short: "Merge the results of several runs into one report directory",
	Long: `merge reads DIR/results.json of each DIR (the --out directory of a conform run, or a
results.json file), merges them without double counting a (kernel, topology, loader,
requirement) cell, and writes results.json, junit.xml, report.md and report.html to --out,
which must be new or empty (--force: hold nothing but an earlier report, which is replaced)
and none of the inputs.
Cells on which inputs disagree keep the worst status and are listed as conflicts.
The reports show each requirement at the suite's current level (results.json keeps the
level each result was judged at) and each root cause's upstream status from --upstream
(default: the built-in reports/upstream.json).
SOURCE_DATE_EPOCH, when set, fixes the "generated" time; otherwise it is the latest input's.`,
	Args: cobra.MinimumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		f := reportMergeFlags
		if f.out == "" {
			return fmt.Errorf("report merge: --out is required")
		}
		baselines, err := loadBaselines(cmd.ErrOrStderr(), f.baselines, f.strict)
		if err != nil {
			return fmt.Errorf("report merge: %w", err)
		}
		// The suite's impact lines (overridden by those in --impacts) and
		// current levels, the built-in upstream map unless --upstream.
		opts := conform.ReportOptions(baselines)
		if f.upstream != "" {
			if opts.Upstream, err = report.LoadUpstream(f.upstream); err != nil {
				return fmt.Errorf("report merge: %w", err)
			}
		}
		merged, conflicts, err := report.MergeInto(f.out, f.force, opts, f.impacts, os.Getenv("SOURCE_DATE_EPOCH"), args...)
		if err != nil {
			return fmt.Errorf("report merge: %w", err)
		}
		for _, c := range conflicts {
			fmt.Fprintf(cmd.ErrOrStderr(), "conflict: %s/%s/%s %s: inputs disagree, kept %s\n", c.Kernel, c.Topology, c.Loader, c.Requirement, c.Kept)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "merged %d inputs: %d results from %d runs, %d conflicts -> %s\n",
			len(args), len(merged.Results), len(merged.Runs), len(conflicts), f.out)
		return nil
	},
}

var reportGateFlags struct {
	level       string
	loaders     []string
	allowErrors bool
	noVerdict   bool
	baselines   []string
	strict      bool
}

var reportGateCmd = &cobra.Command{
	Use:   "gate DIR",
	Short: "Exit 1 if the results in DIR fail the gate",
	Long: `gate reads DIR/results.json (or a results.json file) and exits 1 when a FAIL at or above
--fail-level, an ERROR at those levels or a run error (unless --allow-errors) is found for the
gated loaders (--loader, repeatable; default every loader, in the results or listed by a run; a
bare name such as libbpf gates every version of it, libbpf@1.4 that version only). Failures a
--baseline file lists for that loader do not gate. A gated loader without any results, or
listed by a run without results there, fails the gate. Results with a requirement this suite
does not have, or two results for one cell, are refused (exit status 2). A gated loader
without a verdict (not one PASS or FAIL: every result ERROR or SKIP) fails the gate even with
--allow-errors, unless --allow-no-verdict.`,
	Args: cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		f := reportGateFlags
		level, err := report.ParseLevel(f.level)
		if err != nil {
			return fmt.Errorf("report gate: --fail-level: %w", err)
		}
		baselines, err := loadBaselines(cmd.ErrOrStderr(), f.baselines, f.strict)
		if err != nil {
			return fmt.Errorf("report gate: %w", err)
		}
		r, err := report.ReadDir(args[0])
		if err != nil {
			return fmt.Errorf("report gate: %w", err)
		}
		violations, err := report.Gate(r, report.GateOptions{
			FailLevel: level, Loaders: f.loaders, AllowErrors: f.allowErrors, AllowNoVerdict: f.noVerdict, Baselines: baselines,
			KnownRequirement: conform.Names().Requirement,
		})
		if err != nil {
			return fmt.Errorf("report gate: %w", err)
		}
		known := report.KnownDeviations(r, baselines)
		for _, k := range known {
			fmt.Fprintf(cmd.OutOrStdout(), "known deviation: %s/%s/%s %s: %s\n",
				k.Result.Kernel, k.Result.Topology, k.Result.Loader, k.Result.Requirement, k.Deviation.Reason)
		}
		scope := "every loader"
		if len(f.loaders) > 0 {
			scope = strings.Join(f.loaders, ", ")
		}
		if len(violations) == 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "gate passed: %s at %s, %d known deviations\n", scope, level, len(known))
			return nil
		}
		for _, v := range violations {
			fmt.Fprintln(cmd.ErrOrStderr(), "gate:", v)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("gate failed: %d violations (%s at %s)", len(violations), scope, level)}
	},
}

func init() {
	mf := reportMergeCmd.Flags()
	mf.StringVar(&reportMergeFlags.out, "out", "", "directory to write results.json, junit.xml, report.md and report.html to, which must be empty or new")
	mf.BoolVar(&reportMergeFlags.force, "force", false, "let --out hold an earlier report, and replace it")
	mf.StringVar(&reportMergeFlags.impacts, "impacts", "", "JSON file mapping requirement IDs to what a FAIL means for users (overrides the suite's own lines)")
	mf.StringVar(&reportMergeFlags.upstream, "upstream", "", "JSON file mapping findings to upstream issues (default: the built-in reports/upstream.json)")
	mf.StringArrayVar(&reportMergeFlags.baselines, "baseline", nil, "baseline file of a loader's known deviations (repeatable)")
	mf.BoolVar(&reportMergeFlags.strict, "strict", false, strictBaselinesHelp)

	gf := reportGateCmd.Flags()
	gf.StringVar(&reportGateFlags.level, "fail-level", "must", "lowest requirement level whose FAIL gates: must or should")
	gf.StringArrayVar(&reportGateFlags.loaders, "loader", nil, "loader to gate on (repeatable; default every loader)")
	gf.BoolVar(&reportGateFlags.allowErrors, "allow-errors", false, "do not gate on ERROR results and run errors (a gated loader with no verdict at all still gates)")
	gf.BoolVar(&reportGateFlags.noVerdict, "allow-no-verdict", false, "do not gate on a loader that got no verdict at all (every result ERROR or SKIP)")
	gf.StringArrayVar(&reportGateFlags.baselines, "baseline", nil, "baseline file of a loader's known deviations (repeatable)")
	gf.BoolVar(&reportGateFlags.strict, "strict", false, strictBaselinesHelp)

	reportCmd.AddCommand(reportMergeCmd, reportGateCmd)
	rootCmd.AddCommand(reportCmd)
}
