// Command conform runs the perfconform conformance suite against eBPF loaders,
// on this machine (--host) or inside QEMU VMs with named CPU topologies.
//
// The command is thin: each subcommand turns flags into a call of the library
// packages (a run is package conform, printed by conform/display; suite,
// vmtest, reference for the rest). Subcommands live one per file and add
// themselves to rootCmd in an init function.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/adapters/process"
)

var rootCmd = &cobra.Command{
	Use:   "conform",
	Short: "Conformance suite for how eBPF loaders size perf event arrays and open per-CPU rings",
	Long: `conform checks how an eBPF loader sizes BPF_MAP_TYPE_PERF_EVENT_ARRAY maps from the CPU
topology and opens a perf ring on every CPU. The kernel is the oracle: map sizes are read back
through the kernel and output is triggered on each online CPU by the suite itself.`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit status through cobra without printing a
// second error message (e.g. "a MUST requirement failed" has been reported).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	// The process client starts this executable as a namespace wrapper when a
	// spec needs a loader to see another possible-CPU file (DEGRADE-POSSIBLE);
	// the wrapper must take over before cobra parses the adapter's arguments.
	// Inside a VM this executable is /init, so `conform guest` needs it too.
	process.MaybeRunNamespaceWrapper()
	// A reader that goes away (conform run | head -2) must not kill conform
	// mid-run with SIGPIPE, leaving pins, temporary directories and no
	// results: asked for, SIGPIPE turns into EPIPE on the write (a handler,
	// unlike SIG_IGN, is not inherited by adapters). run goes on when its
	// results have somewhere to go (display.ClosedPipe).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if err := rootCmd.Execute(); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "conform:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "conform:", err)
		os.Exit(2)
	}
}
