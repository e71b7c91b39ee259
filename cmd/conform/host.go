package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
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

// hostDisplay shows a host run's progress the way vmDisplay shows VMs:
// results on stdout, one line each; on stderr a line when a loader starts
// and, for a check that runs long (an adapter that does not get ready), a
// line every hostSlowCheck. When both streams are a terminal the status
// line below the results is redrawn every second instead.
type hostDisplay struct {
	mu      sync.Mutex
	out     io.Writer
	errw    io.Writer
	tty     bool
	start   time.Time
	total   int
	done    int
	loader  string
	check   string
	since   time.Time
	warned  time.Duration
	drawn   bool
	quit    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

// hostSlowCheck is how long a check runs before a non-terminal display says
// it is still running (and again every as long).
const hostSlowCheck = 10 * time.Second

func newHostDisplay(out, errw io.Writer, total int) *hostDisplay {
	d := &hostDisplay{out: out, errw: errw, tty: isTerminal(out) && isTerminal(errw), start: time.Now(),
		total: total, quit: make(chan struct{})}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-d.quit:
				return
			case <-t.C:
				d.mu.Lock()
				d.tick()
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func (d *hostDisplay) elapsed() string { return fmt.Sprintf("[%6.1fs]", time.Since(d.start).Seconds()) }

// onCheck is suite.Config.OnCheck.
func (d *hostDisplay) onCheck(loader, requirement string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if loader != d.loader {
		d.clear()
		fmt.Fprintf(d.errw, "%s %s: checking (%d/%d results so far)\n", d.elapsed(), loader, d.done, d.total)
	}
	d.loader, d.check, d.since, d.warned = loader, requirement, time.Now(), 0
	d.redraw()
}

// onResult is suite.Config.OnResult.
func (d *hostDisplay) onResult(r result.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	d.check = ""
	d.clear()
	printResult(d.out, r)
	d.redraw()
}

func (d *hostDisplay) tick() {
	if d.tty {
		d.redraw()
		return
	}
	if d.check == "" {
		return
	}
	if running := time.Since(d.since); running-d.warned >= hostSlowCheck {
		d.warned = running.Truncate(hostSlowCheck)
		fmt.Fprintf(d.errw, "%s %s %s: still running after %v\n", d.elapsed(), d.loader, d.check, d.warned)
	}
}

func (d *hostDisplay) clear() {
	if d.tty && d.drawn {
		fmt.Fprint(d.errw, "\r\033[K")
		d.drawn = false
	}
}

func (d *hostDisplay) redraw() {
	if !d.tty {
		return
	}
	select {
	case <-d.quit:
		return
	default:
	}
	status := fmt.Sprintf("\r\033[K%s %d/%d results", d.elapsed(), d.done, d.total)
	if d.check != "" {
		status += fmt.Sprintf("; %s %s %ds", d.loader, d.check, int(time.Since(d.since).Seconds()))
	}
	fmt.Fprint(d.errw, status)
	d.drawn = true
}

// stop ends the status line; safe to call more than once.
func (d *hostDisplay) stop() {
	d.stopped.Do(func() {
		close(d.quit)
		d.wg.Wait()
		d.mu.Lock()
		d.clear()
		d.mu.Unlock()
	})
}
