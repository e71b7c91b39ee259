package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/adaptercheck"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/suite"
)

func init() {
	var build bool
	var binDir string
	listCmd := &cobra.Command{
		Use:   "adapters",
		Short: "List the built-in loader adapters and whether each can run here",
		Long: `List the built-in adapters (loaders behind the adapter protocol, docs/ADAPTERS.md)
and whether each can be built and run on this machine, or why not. With --build,
build every available one into --bin-dir and print its path and the files it
needs inside a VM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAdapters(cmd.Context(), cmd.OutOrStdout(), build, binDir)
		},
	}
	listCmd.Flags().BoolVar(&build, "build", false, "build every available adapter")
	listCmd.Flags().StringVar(&binDir, "bin-dir", adapters.DefaultBinDir(), "where adapters are built")
	rootCmd.AddCommand(listCmd)

	var o adaptercheck.Options
	checkCmd := &cobra.Command{
		Use:   "adapter-check PATH",
		Short: "Check that an adapter executable speaks the adapter protocol",
		Long: `Run a third-party adapter executable against the simplest fixture (` + adaptercheck.Fixture + `)
and check, step by step: its info line, load + ready, maps pinned by name, one
sample triggered on every online CPU delivered and attributed to that CPU (a
protocol 1.1 adapter's "cpu": -1 is a NOTE, as run SKIPs RING-ATTRIBUTE for
it), and a clean exit once stdin closes. Each failed step says what the
protocol expects.
Needs root and a bpffs at /sys/fs/bpf. Exit status 1 if any step failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.OnStep = func(s adaptercheck.Step) { fmt.Fprintln(cmd.OutOrStdout(), s) }
			r, err := adaptercheck.Check(ctx, args[0], o)
			if err != nil {
				return err
			}
			if r.Failed() > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("adapter-check: %d step(s) failed", r.Failed())}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "adapter speaks protocol version", protocol.Version)
			return nil
		},
	}
	checkCmd.Flags().StringVar(&o.Object, "object", "", "BPF object to load instead of the "+adaptercheck.Fixture+" fixture (must have a perf event array named events)")
	checkCmd.Flags().DurationVar(&o.ReadyTimeout, "ready-timeout", adaptercheck.DefaultReadyTimeout, fmt.Sprintf("how long the adapter may take to print ready (at least %v)", suite.MinTimeout))
	checkCmd.Flags().DurationVar(&o.SampleTimeout, "sample-timeout", adaptercheck.DefaultSampleTimeout, fmt.Sprintf("how long a triggered sample may take to arrive (at least %v)", suite.MinTimeout))
	checkCmd.Flags().IntVar(&o.Pages, "pages", adaptercheck.DefaultPages, "--pages passed to the adapter (a power of two)")
	rootCmd.AddCommand(checkCmd)
}

// runAdapters prints adapters.Availability (Table.WriteText); with build it
// builds them.
func runAdapters(ctx context.Context, out io.Writer, build bool, binDir string) error {
	if err := adapters.Availability().WriteText(out); err != nil {
		return err
	}
	if !build {
		fmt.Fprintf(out, "Build them with: conform adapters --build --bin-dir %s\n", binDir)
		return nil
	}
	fmt.Fprintln(out)
	built, err := adapters.Build(ctx, binDir)
	for _, a := range adapters.All() {
		if path, ok := built[a.Name]; ok {
			fmt.Fprintf(out, "built %s: %s (in a VM: %v)\n", a.Name, path, a.VMExecutables(binDir))
		}
	}
	return err
}
