package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "spec",
		Short: "List the requirements the suite checks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tLEVEL\tFIXTURE\tREQUIREMENT")
			for _, r := range suite.Requirements {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.ID, r.Level, r.Fixture, r.Title)
			}
			return w.Flush()
		},
	})

	var sysfs string
	topoCmd := &cobra.Command{
		Use:   "topology",
		Short: "Print this machine's CPU masks and the size a perf event array needs here",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := topology.Read(sysfs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "possible  %s\npresent   %s\nonline    %s\n", t.Possible, t.Present, t.Online)
			size := topology.PerfArraySize(t.Possible)
			fmt.Fprintf(out, "perf event array max_entries: %d (highest possible CPU %d + 1; %d possible CPUs)\n", size, t.Possible.Highest(), t.Possible.Len())
			fmt.Fprintf(out, "perf rings open on: %s\n", topology.RingCPUs(t, size))
			if off := t.Possible.Difference(t.Online); !off.Empty() {
				fmt.Fprintf(out, "offline possible CPUs (skipped by readers): %s\n", off)
			}
			return nil
		},
	}
	topoCmd.Flags().StringVar(&sysfs, "sysfs", topology.DefaultSysfsRoot, "directory holding the possible/present/online files")
	rootCmd.AddCommand(topoCmd)
}

// printResult prints one result as a line: status, level, requirement,
// loader, detail (with CPU and errno when the check found them).
func printResult(out io.Writer, r result.Result) {
	detail := r.Detail
	if r.CPU != nil {
		detail = fmt.Sprintf("cpu=%d %s", *r.CPU, detail)
	}
	if r.Errno != "" {
		detail = fmt.Sprintf("errno=%s %s", r.Errno, detail)
	}
	where := r.Loader
	if r.Kernel != "" && r.Kernel != "host" {
		where = fmt.Sprintf("%s@%s/%s", r.Loader, r.Kernel, r.Topology)
	}
	fmt.Fprintf(out, "%-5s %-6s %-21s %-12s %s\n", r.Status, r.Level, r.Requirement, where, strings.ReplaceAll(detail, "\n", " "))
}

// countStatuses counts results by status for the summary line.
func countStatuses(rs []result.Result) map[result.Status]int {
	n := map[result.Status]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}
