package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

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

// hostDisplay shows a host run's progress the way vmDisplay shows VMs: a
// line when a loader starts and, for a check that runs long (an adapter
// that does not get ready), a line every hostSlowCheck; on a terminal a
// status line with the results so far and the running check instead.
type hostDisplay struct {
	*statusDisplay
	total  int
	done   int
	loader string
	check  string
	since  time.Time
	warned time.Duration
}

// hostSlowCheck is how long a check runs before a non-terminal display says
// it is still running (and again every as long).
const hostSlowCheck = 10 * time.Second

func newHostDisplay(out, errw io.Writer, total int) *hostDisplay {
	d := &hostDisplay{total: total}
	d.statusDisplay = newStatusDisplay(out, errw, d.status, d.slowCheck)
	return d
}

// onCheck is suite.Config.OnCheck.
func (d *hostDisplay) onCheck(loader, requirement string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.check, d.since, d.warned = requirement, time.Now(), 0
	if loader != d.loader {
		d.loader = loader
		d.line(fmt.Sprintf("%s %s: checking (%d/%d results so far)", d.elapsed(), loader, d.done, d.total))
		return
	}
	d.redraw()
}

// onResult is suite.Config.OnResult.
func (d *hostDisplay) onResult(r result.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	d.check = ""
	d.printResult(r)
}

// slowCheck says, without a terminal, that a check is still running.
func (d *hostDisplay) slowCheck() {
	if d.check == "" {
		return
	}
	if running := time.Since(d.since); running-d.warned >= hostSlowCheck {
		d.warned = running.Truncate(hostSlowCheck)
		d.line(fmt.Sprintf("%s %s %s: still running after %v", d.elapsed(), d.loader, d.check, d.warned))
	}
}

// status is the terminal's status line.
func (d *hostDisplay) status() string {
	s := fmt.Sprintf("%s %d/%d results", d.elapsed(), d.done, d.total)
	if d.check != "" {
		s += fmt.Sprintf("; %s %s %ds", d.loader, d.check, int(time.Since(d.since).Seconds()))
	}
	return s
}
