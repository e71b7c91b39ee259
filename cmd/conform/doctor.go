package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/doctor"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/reports"
)

var doctorFlags struct {
	results string
}

var doctorCmd = &cobra.Command{
	Use:   "doctor",
	Short: "Say which topology classes this machine belongs to and which loader versions fail on such machines",
	Long: `doctor reads this machine's possible, present and online CPU masks, the process's CPU
affinity and cgroup cpuset, the architecture and kernel, and whether BPF memory is charged to
RLIMIT_MEMLOCK (probed as root, else from the kernel release). It names the topology classes
the machine belongs to (gapped possible, sparse online, possible > present, affinity < online, ...)
and lists the root causes in the results that fail on machines of those classes: loader versions,
requirements, upstream status and one line of evidence. Offline: the results are the committed
reports/results.json built into this binary, or --results (a results.json or a conform run's
--out directory).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		source := "the built-in reports/results.json"
		var r *report.Results
		var err error
		if doctorFlags.results != "" {
			source = doctorFlags.results
			r, err = report.ReadDir(doctorFlags.results)
		} else {
			r, err = reports.Results()
		}
		if err != nil {
			return fmt.Errorf("doctor: %w", err)
		}
		m, err := doctor.Read(doctor.Options{})
		if err != nil {
			return fmt.Errorf("doctor: %w", err)
		}
		return doctor.Diagnose(m, r, conform.ReportOptions(nil)).WriteText(cmd.OutOrStdout(), source)
	},
}

func init() {
	doctorCmd.Flags().StringVar(&doctorFlags.results, "results", "", "results.json, or a conform run's --out directory (default: the built-in reports/results.json)")
	rootCmd.AddCommand(doctorCmd)
}
