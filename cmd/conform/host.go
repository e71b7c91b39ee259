package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/reference/topology"
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
