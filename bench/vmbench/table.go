package vmbench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perfconform/perfconform/bench/vmboot"
)

// WriteTables prints every part the results hold, as `conform bench vm`
// reports them.
func (r *Results) WriteTables(w io.Writer) {
	for _, part := range Parts {
		r.writePart(w, part)
	}
}

func (r *Results) writePart(w io.Writer, part string) {
	switch {
	case part == PerVM && len(r.PerVM) > 0:
		r.writePerVM(w)
	case part == Matrix && len(r.MatrixBare) > 0:
		r.writeMatrix(w)
	case part == Boot && len(r.Images) > 0:
		r.writeBoots(w)
	}
}

// perVMGroups splits PerVM into what was booted per (round, kernel, -smp):
// the suite VMs, then the bare VM they are compared with.
func (r *Results) perVMGroups() [][]Figure {
	var groups [][]Figure
	var cur []Figure
	for _, f := range r.PerVM {
		cur = append(cur, f)
		if f.Payload == "bare" {
			groups, cur = append(groups, cur), nil
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

func (r *Results) writePerVM(w io.Writer) {
	fmt.Fprintln(w, "\nper VM, one at a time (QEMU start → booted → done → exit; after boot = total − boot; specs = each loader's results' durations):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kernel\ttopology\tround\tpayload\tboot\trun\tpoweroff\tafter boot\ttotal\tsuite/bare\tresults\tspecs\terror")
	for _, g := range r.perVMGroups() {
		bare := g[len(g)-1]
		for _, x := range g {
			ratio, results, payload := "", "", x.Payload
			if x.Payload == "suite" {
				payload = "suite: " + strings.Join(x.Loaders, "+")
				results = fmt.Sprintf("%d (%d failed)", x.Results, x.Failed)
				if bare.Payload == "bare" && bare.Total > 0 && x.Total > 0 {
					ratio = fmt.Sprintf("%.2fx", x.Total.Seconds()/bare.Total.Seconds())
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%v\t%v\t%v\t%s\t%s\t%s\t%s\n", x.Kernel, x.Topology, dash(roundName(x.Round)), payload,
				sec(x.Boot), sec(x.Run), sec(x.PowerOff), sec(x.AfterBoot), sec(x.Total), ratio, results, specs(x.Specs), dash(x.Err))
		}
	}
	tw.Flush()
	r.writePerLoaderGoals(w)
}

// writePerLoaderGoals prints, per (kernel, topology, payload), the after-boot
// time and the total ÷ bare ratio over the rounds (median, and the range),
// held to issue 14's goals where the payload is one loader alone.
func (r *Results) writePerLoaderGoals(w io.Writer) {
	type key struct{ kernel, topology, payload string }
	var order []key
	after := map[key][]time.Duration{}
	ratio := map[key][]float64{}
	for _, g := range r.perVMGroups() {
		bare := g[len(g)-1]
		for _, x := range g {
			if x.Payload != "suite" || x.Err != "" || x.AfterBoot == 0 {
				continue
			}
			k := key{x.Kernel, x.Topology, strings.Join(x.Loaders, "+")}
			if _, ok := after[k]; !ok {
				order = append(order, k)
			}
			after[k] = append(after[k], x.AfterBoot)
			if bare.Payload == "bare" && bare.Err == "" && bare.Total > 0 {
				ratio[k] = append(ratio[k], x.Total.Seconds()/bare.Total.Seconds())
			}
		}
	}
	if len(order) == 0 {
		return
	}
	fmt.Fprintf(w, "\nafter boot per loader alone (median over rounds, range in brackets; goals: after boot ≤ %v, total ≤ %.2fx bare):\n",
		GoalAfterBoot, GoalTotalPerBare)
	for _, k := range order {
		a := after[k]
		slices.Sort(a)
		med := a[len(a)/2]
		line := fmt.Sprintf("  %s %s %s: after boot %v%s", k.kernel, k.topology, k.payload, sec(med), spanOf(sec(a[0]), sec(a[len(a)-1]), len(a)))
		single := !strings.Contains(k.payload, "+")
		if single {
			line += ", " + verdict(med <= GoalAfterBoot)
		}
		if rs := ratio[k]; len(rs) > 0 {
			slices.Sort(rs)
			m := rs[len(rs)/2]
			line += fmt.Sprintf("; total ÷ bare %.2fx%s", m, spanOf(fmt.Sprintf("%.2fx", rs[0]), fmt.Sprintf("%.2fx", rs[len(rs)-1]), len(rs)))
			if single {
				line += ", " + verdict(m <= GoalTotalPerBare)
			}
		}
		fmt.Fprintln(w, line)
	}
}

func (r *Results) writeMatrix(w io.Writer) {
	var sumBare, sumSuite time.Duration
	for _, f := range r.MatrixBare {
		sumBare += f.Total
	}
	started := 0
	for _, f := range r.MatrixSuite {
		sumSuite += f.Total
		if f.Total > 0 {
			started++
		}
	}
	j := max(r.Jobs, 1)
	ideal := sumBare / time.Duration(j)
	fmt.Fprintf(w, "\nmatrix %s × %s (%d VMs, %d booted; declared-unrealizable ones are not booted):\n",
		strings.Join(r.Matrix, ","), strings.Join(r.Kernels, ","), len(r.MatrixBare), started)
	fmt.Fprintf(w, "  sum of bare boots (one at a time):      %v\n", sec(sumBare))
	fmt.Fprintf(w, "  ideal = sum(bare) / -j %d:               %v\n", j, sec(ideal))
	fmt.Fprintf(w, "  bare VMs, -j %d, wall:                    %v  (%.2fx ideal)\n", j, sec(r.MatrixBareJ), r.MatrixBareJ.Seconds()/ideal.Seconds())
	if len(r.MatrixSuite) == 0 {
		return
	}
	fmt.Fprintf(w, "  suite VMs, -j %d, wall:                   %v  (%.2fx ideal)\n", j, sec(r.MatrixWall), r.MatrixWall.Seconds()/ideal.Seconds())
	fmt.Fprintf(w, "  suite VMs, sum of per-VM totals at -j %d: %v  (%.2fx sum of bare)\n", j, sec(sumSuite), sumSuite.Seconds()/sumBare.Seconds())
	for _, f := range r.MatrixSuite {
		if f.Err != "" {
			fmt.Fprintf(w, "  %s %s: %s\n", f.Kernel, f.Topology, f.Err)
		}
	}
}

// writeBoots prints the images and, per (variant, kernel, -smp), the median
// boot of the repetitions with its ratio to the baseline's median.
func (r *Results) writeBoots(w io.Writer) {
	for _, i := range r.Images {
		fmt.Fprintf(w, "\nimage %s: %.1f MiB", i.Name, float64(i.Size)/(1<<20))
	}
	fmt.Fprintln(w)
	type key struct {
		kernel string
		cpus   int
	}
	var order []key
	boots := map[key]map[string][]vmboot.Boot{}
	for _, b := range r.Boots {
		k := key{b.Kernel, b.CPUs}
		if boots[k] == nil {
			order = append(order, k)
			boots[k] = map[string][]vmboot.Boot{}
		}
		boots[k][b.Variant] = append(boots[k][b.Variant], b)
	}
	median := func(bs []vmboot.Boot) vmboot.Boot {
		bs = slices.Clone(bs)
		slices.SortFunc(bs, func(a, b vmboot.Boot) int { return int(a.Total - b.Total) })
		return bs[len(bs)/2]
	}
	fmt.Fprintf(w, "\nbare boots below vmtest, TCG, one at a time, median of %d (total = QEMU start → exit; vs = total / baseline total):\n", r.Reps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tkernel\t-smp\tinit\ttotal\tvs baseline\terror")
	for _, k := range order {
		var base vmboot.Boot
		if bs := boots[k]["baseline"]; len(bs) > 0 {
			base = median(bs)
		}
		for _, v := range vmboot.Variants() {
			bs := boots[k][v.Name]
			if len(bs) == 0 {
				continue
			}
			b := median(bs)
			ratio := "-"
			if base.Total > 0 && b.Err == "" {
				ratio = fmt.Sprintf("%.2fx", b.Total.Seconds()/base.Total.Seconds())
			}
			first, _, _ := strings.Cut(b.Err, "\n")
			fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%v\t%s\t%s\n", v.Name, k.kernel, k.cpus, sec(b.Init), sec(b.Total), ratio, dash(first))
		}
	}
	tw.Flush()
}

// specs is "reference 1.21s, libbpf 0.90s".
func specs(ls []LoaderTime) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s %.2fs", l.Loader, l.Duration.Seconds()))
	}
	return dash(strings.Join(parts, ", "))
}

func spanOf(lo, hi string, n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" [%s–%s, %d rounds]", lo, hi, n)
}

func roundName(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func sec(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
