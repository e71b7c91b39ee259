package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/bench/libbpfdrv"
	"github.com/perfconform/perfconform/bench/readers"
	"github.com/perfconform/perfconform/bench/sizing"
	"github.com/perfconform/perfconform/bench/vmboot"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// benchCmd groups the benchmarks behind docs/PERFORMANCE.md; each prints its
// figures and the ratios the goals are stated in, measured in one run.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Reproduce the figures in docs/PERFORMANCE.md: perf readers, sizing cost, VM harness overhead",
}

var benchReadersFlags struct {
	readers []string
	sizes   []int
	pages   int
	samples int
	rounds  int
	rate    int
	rateDur time.Duration
	noDrain bool
	jsonOut string
	cpuProf string
}

var benchReadersCmd = &cobra.Command{
	Use:   "readers",
	Short: "Perf reader throughput: reference ReadInto and ReadFunc vs cilium/ebpf ReadInto vs libbpf 1.1 perf_buffer (root)",
	Long: `Runs producers (a BPF program emitting up to 1024 samples per BPF_PROG_TEST_RUN, one pinned
thread per online CPU, all at once) into the same perf event array layout for each reader, at
each sample size, in three modes: drain (rings filled to 3/4 while the reader waits, then the
reader alone drains them: its capacity), saturated (producers flat out while the reader runs)
and rate-limited (--rate per CPU). Drain and saturated: --rounds runs, readers interleaved,
median kept.
Prints samples/s, lost samples, reader CPU time per million samples, allocations per sample,
each reader's samples/s as a ratio of the reference's (ReadInto) and of reference-func's
(ReadFunc, the zero-copy batch read), and the goals for both.`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := benchReadersFlags
		cfg := readers.Config{
			Readers: f.readers, Sizes: f.sizes, Pages: f.pages, Samples: f.samples, Rounds: f.rounds,
			Rate: f.rate, RateDuration: f.rateDur, NoDrain: f.noDrain,
			Progress: func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) },
		}
		if len(cfg.Readers) == 0 || slices.Contains(cfg.Readers, readers.Libbpf) || slices.Contains(cfg.Readers, readers.LibbpfCopy) {
			dir, err := os.MkdirTemp("", "perfconform-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if cfg.LibbpfDriver, err = libbpfdrv.Build(cmd.Context(), dir); err != nil {
				return err
			}
		}
		if f.cpuProf != "" {
			pf, err := os.Create(f.cpuProf)
			if err != nil {
				return err
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, "machine:", machineLine())
		fmt.Fprintf(w, "rings: %d pages per CPU; load average at start: %s\n", f.pages, loadAvg())
		res, err := readers.Run(cmd.Context(), cfg)
		printReaderResults(w, res)
		fmt.Fprintln(w, "load average at end:", loadAvg())
		if f.jsonOut != "" && len(res) > 0 {
			if werr := writeJSONFile(f.jsonOut, res); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	},
}

func printReaderResults(w io.Writer, res []readers.Result) {
	ref := map[string]readers.Result{}
	fn := map[string]readers.Result{}
	for _, r := range res {
		switch r.Reader {
		case readers.Reference:
			ref[fmt.Sprint(r.Size, r.Mode)] = r
		case readers.ReferenceFunc:
			fn[fmt.Sprint(r.Size, r.Mode)] = r
		}
	}
	ratioTo := func(base map[string]readers.Result, r readers.Result) string {
		if b, ok := base[fmt.Sprint(r.Size, r.Mode)]; ok && r.SamplesPerSec() > 0 {
			return fmt.Sprintf("%.2fx", b.SamplesPerSec()/r.SamplesPerSec())
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tmode\treader\tsamples/s\tref/this\tfunc/this\tdelivered\tlost\tloss ok\tCPU ms/M samples\tallocs in reads\t")
	for _, r := range res {
		ratio := ratioTo(ref, r)
		allocs := "n/a"
		if r.AllocsPerSample >= 0 {
			allocs = fmt.Sprintf("%d in %d", r.Allocs, r.AllocSamples)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%s\t%s\t%d\t%d\t%v\t%.1f\t%s\t\n", r.Size, r.Mode, r.Reader, r.SamplesPerSec(), ratio,
			ratioTo(fn, r), r.Delivered, r.Lost, r.LossAccounted(), float64(r.CPUPerMillion())/1e6, allocs)
	}
	tw.Flush()

	// The goals, per (size, mode): reference ≥ libbpf samples/s, ≥ 1.5x
	// cilium/ebpf, zero allocations per sample, no loss below saturation.
	// ReadInto (reference) and ReadFunc (reference-func) are each held to
	// them.
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, base := range []struct {
		name string
		of   map[string]readers.Result
	}{{readers.Reference, ref}, {readers.ReferenceFunc, fn}} {
		if len(base.of) == 0 {
			continue
		}
		fmt.Fprintf(w, "\ngoals (%s vs the others, same size and mode):\n", base.name)
		for _, r := range res {
			b, ok := base.of[fmt.Sprint(r.Size, r.Mode)]
			if !ok || r.SamplesPerSec() == 0 {
				continue
			}
			x := b.SamplesPerSec() / r.SamplesPerSec()
			switch r.Reader {
			case readers.Cilium:
				fmt.Fprintf(w, "  %5dB %-12s %s ≥ 1.5x %s: %.2fx, %s\n", r.Size, r.Mode, base.name, r.Reader, x, verdict(x >= 1.5))
			case readers.Libbpf, readers.LibbpfCopy:
				fmt.Fprintf(w, "  %5dB %-12s %s ≥ %s: %.2fx, %s\n", r.Size, r.Mode, base.name, r.Reader, x, verdict(x >= 1))
			}
		}
	}
	for _, r := range res {
		// MemStats.Mallocs is process-wide: a handful of runtime allocations
		// over a million reads is not the reader; one per thousand reads is.
		if r.AllocsPerSample >= 0.001 {
			fmt.Fprintf(w, "  %5dB %-12s %s: %d allocations in %d reads, zero-allocation goal MISSED\n", r.Size, r.Mode, r.Reader, r.Allocs, r.AllocSamples)
		}
		if r.Mode == readers.RateLimited && r.Lost > 0 {
			fmt.Fprintf(w, "  %5dB %-12s %s: lost %d samples below saturation, goal MISSED\n", r.Size, r.Mode, r.Reader, r.Lost)
		}
		if !r.LossAccounted() {
			fmt.Fprintf(w, "  %5dB %-12s %s: reported %d lost but the kernel dropped %d\n", r.Size, r.Mode, r.Reader, r.Lost, r.Attempted-r.Accepted)
		}
	}
}

func init() {
	f := benchReadersCmd.Flags()
	f.StringSliceVar(&benchReadersFlags.readers, "reader", nil, "readers to measure (default reference,reference-func,reference-watermark,cilium-ebpf,libbpf,libbpf-copy)")
	f.IntSliceVar(&benchReadersFlags.sizes, "size", nil, "sample sizes in bytes, multiples of 8 (default 8,256,4096)")
	f.IntVar(&benchReadersFlags.pages, "pages", 256, "data pages per CPU ring, the same for every reader")
	f.IntVar(&benchReadersFlags.samples, "samples", 0, "samples each CPU attempts per saturated run (default 524288, 65536 above 256 B)")
	f.IntVar(&benchReadersFlags.rounds, "rounds", 3, "saturated runs per reader and size; the median is reported")
	f.IntVar(&benchReadersFlags.rate, "rate", 20000, "rate-limited producer: samples/s per CPU (negative: skip)")
	f.DurationVar(&benchReadersFlags.rateDur, "rate-duration", 2*time.Second, "rate-limited run length")
	f.BoolVar(&benchReadersFlags.noDrain, "no-drain", false, "skip the drain mode (each reader alone on pre-filled rings)")
	f.StringVar(&benchReadersFlags.cpuProf, "cpuprofile", "", "write a Go CPU profile of the whole run (producers included) to this file")
	f.StringVar(&benchReadersFlags.jsonOut, "json", "", "also write the results to this JSON file")
	benchCmd.AddCommand(benchReadersCmd)
	rootCmd.AddCommand(benchCmd)
}

// writeJSONFile writes v as indented JSON, so a run's raw figures are kept
// next to the printed table.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

var benchVMFlags struct {
	kernels  []string
	smp      []int
	matrix   []string
	parallel int
	reps     int
	parts    []string
	outDir   string
	jsonOut  string
}

var benchVMCmd = &cobra.Command{
	Use:   "vm",
	Short: "VM harness overhead: suite vs bare boots per -smp and kernel, the matrix vs its ideal, and what each boot cost is (root)",
	Long: `Three parts, each printed with its ratios (--part selects):

  pervm    for each kernel and -smp N: one VM running the real suite payload (the reference loader
           in-process) and one running no suite (the guest only realizes and reports its topology,
           as 'conform topologies verify' boots it), one VM at a time; QEMU start → booted → done → exit.
  matrix   the --matrix topologies on every kernel: bare VMs one at a time (their sum is the ideal's
           numerator), then the suite VMs -j at a time; wall time vs sum(bare)/j.
  boot     below vmtest: the same QEMU command line with a bare init that powers off at once,
           varying one thing at a time (initramfs size and gzip, quiet, qboot, -no-hpet, microvm).`,
	RunE: func(cmd *cobra.Command, args []string) error { return runVMBench(cmd) },
}

func init() {
	f := benchVMCmd.Flags()
	f.StringSliceVar(&benchVMFlags.kernels, "kernel", []string{"debian-6.1", "debian-6.12"}, "kernels to boot")
	f.IntSliceVar(&benchVMFlags.smp, "smp", []int{1, 4, 8}, "CPU counts for the per-VM and boot parts")
	f.StringSliceVar(&benchVMFlags.matrix, "matrix", []string{"quick"}, "topologies (names or sets) for the matrix part")
	f.IntVarP(&benchVMFlags.parallel, "jobs", "j", 2, "VMs at once in the matrix part")
	f.IntVar(&benchVMFlags.reps, "reps", 3, "boots per (variant, kernel, -smp) in the boot part; the median is printed")
	f.StringSliceVar(&benchVMFlags.parts, "part", []string{"pervm", "matrix", "boot"}, "parts to run")
	f.StringVar(&benchVMFlags.outDir, "out", "", "keep each vmtest VM's events.jsonl, console.log and vm.json here (per part)")
	f.StringVar(&benchVMFlags.jsonOut, "json", "", "also write the raw figures to this JSON file")
	benchCmd.AddCommand(benchVMCmd)
}

// smpTopology is -smp n with every CPU online: the plain topology whose boot
// cost grows with n.
func smpTopology(n int) topology.Topology {
	mask := "0"
	if n > 1 {
		mask = fmt.Sprintf("0-%d", n-1)
	}
	m := result.Masks{Possible: mask, Present: mask, Online: mask}
	return topology.Topology{Name: fmt.Sprintf("smp%d", n), Description: fmt.Sprintf("%d CPUs, all online (bench)", n),
		CPUs: n, Expect: []topology.Expectation{{Series: "6.1", Masks: m}}}
}

type vmFigure struct {
	Kernel   string        `json:"kernel"`
	Topology string        `json:"topology"`
	Payload  string        `json:"payload"`     // suite or bare
	Boot     time.Duration `json:"boot_ns"`     // QEMU start → booted
	Run      time.Duration `json:"run_ns"`      // booted → done
	PowerOff time.Duration `json:"poweroff_ns"` // done → QEMU exit
	Total    time.Duration `json:"total_ns"`
	Err      string        `json:"error,omitempty"`
}

func figureOf(payload string, r vmtest.VMResult) vmFigure {
	f := vmFigure{Kernel: r.Kernel.Name, Topology: r.Topology, Payload: payload}
	if r.Err != nil {
		f.Err = firstLine(r.Err.Error())
	}
	if !r.Started.IsZero() && !r.Ended.IsZero() {
		f.Total = r.Ended.Sub(r.Started)
	}
	if !r.Booted.IsZero() {
		f.Boot = r.Booted.Sub(r.Started)
		if !r.Done.IsZero() {
			f.Run = r.Done.Sub(r.Booted)
			f.PowerOff = r.Ended.Sub(r.Done)
		}
	}
	return f
}

type vmBenchOut struct {
	Machine     string            `json:"machine"`
	PerVM       []vmFigure        `json:"per_vm,omitempty"`
	MatrixBare  []vmFigure        `json:"matrix_bare,omitempty"`
	MatrixSuite []vmFigure        `json:"matrix_suite,omitempty"`
	MatrixWall  time.Duration     `json:"matrix_wall_ns,omitempty"`
	MatrixBareJ time.Duration     `json:"matrix_bare_parallel_wall_ns,omitempty"`
	Boots       []vmboot.Boot     `json:"boots,omitempty"`
	Images      []vmboot.Image    `json:"images,omitempty"`
	Jobs        int               `json:"jobs"`
	Extra       map[string]string `json:"extra,omitempty"`
}

func runVMBench(cmd *cobra.Command) error {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	f := benchVMFlags
	line := func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) }
	cacheDir, err := kernel.DefaultCacheDir()
	if err != nil {
		return err
	}
	guestBin, err := conform.StaticGuest(ctx, cacheDir, line)
	if err != nil {
		return err
	}
	opts := []vmtest.Option{
		vmtest.WithCacheDir(cacheDir), vmtest.WithGuestBinary(guestBin),
		vmtest.WithProgress(func(p vmtest.Progress) { line(p.String()) }),
	}
	suiteArgs := conform.GuestArgs{Loaders: []conform.GuestLoader{{Name: refadapter.Info.Loader}}}.Encode()
	out := vmBenchOut{Machine: machineLine(), Jobs: f.parallel}
	fmt.Fprintln(w, "machine:", out.Machine)
	fmt.Fprintln(w, "load average at start:", loadAvg())
	defer func() { fmt.Fprintln(w, "load average at end:", loadAvg()) }()
	outOpt := func(part string) []vmtest.Option {
		if f.outDir == "" {
			return nil
		}
		return []vmtest.Option{vmtest.WithOutDir(filepath.Join(f.outDir, part))}
	}
	defer func() {
		if f.jsonOut != "" {
			if err := writeJSONFile(f.jsonOut, out); err != nil {
				line("write " + f.jsonOut + ": " + err.Error())
			}
		}
	}()

	if slices.Contains(f.parts, "pervm") {
		var jobs []vmtest.Job
		var payloads []string
		for _, k := range f.kernels {
			for _, n := range f.smp {
				t := smpTopology(n)
				jobs = append(jobs, vmtest.Job{Kernel: k, Topology: t, Args: suiteArgs}, vmtest.Job{Kernel: k, Topology: t})
				payloads = append(payloads, "suite", "bare")
			}
		}
		res, err := vmtest.Run(ctx, jobs, append(append(opts, outOpt("pervm")...), vmtest.WithParallel(1))...)
		if err != nil {
			return err
		}
		for i, r := range res {
			out.PerVM = append(out.PerVM, figureOf(payloads[i], r))
		}
		fmt.Fprintln(w, "\nper VM, one at a time (QEMU start → booted → done → exit):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "kernel\ttopology\tpayload\tboot\trun\tpoweroff\ttotal\tsuite/bare\terror")
		for i := 0; i+1 < len(out.PerVM); i += 2 {
			s, b := out.PerVM[i], out.PerVM[i+1]
			for _, x := range []vmFigure{s, b} {
				ratio := ""
				if x.Payload == "suite" && b.Total > 0 {
					ratio = fmt.Sprintf("%.2fx", s.Total.Seconds()/b.Total.Seconds())
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%v\t%v\t%s\t%s\n", x.Kernel, x.Topology, x.Payload, sec(x.Boot), sec(x.Run),
					sec(x.PowerOff), sec(x.Total), ratio, dash(x.Err))
			}
		}
		tw.Flush()
	}

	if slices.Contains(f.parts, "matrix") {
		tops, err := topology.Resolve(f.matrix...)
		if err != nil {
			return err
		}
		var bare, suiteJobs []vmtest.Job
		for _, k := range f.kernels {
			for _, t := range tops {
				bare = append(bare, vmtest.Job{Kernel: k, Topology: t})
				suiteJobs = append(suiteJobs, vmtest.Job{Kernel: k, Topology: t, Args: suiteArgs})
			}
		}
		res, err := vmtest.Run(ctx, bare, append(opts, vmtest.WithParallel(1))...)
		if err != nil {
			return err
		}
		var sumBare time.Duration
		for _, r := range res {
			fig := figureOf("bare", r)
			out.MatrixBare = append(out.MatrixBare, fig)
			if !r.Started.IsZero() {
				sumBare += fig.Total
			}
		}
		start := time.Now()
		if _, err := vmtest.Run(ctx, bare, append(opts, vmtest.WithParallel(f.parallel))...); err != nil {
			return err
		}
		out.MatrixBareJ = time.Since(start)
		start = time.Now()
		res, err = vmtest.Run(ctx, suiteJobs, append(append(opts, outOpt("matrix-suite")...), vmtest.WithParallel(f.parallel))...)
		if err != nil {
			return err
		}
		out.MatrixWall = time.Since(start)
		var sumSuite time.Duration
		for _, r := range res {
			fig := figureOf("suite", r)
			out.MatrixSuite = append(out.MatrixSuite, fig)
			sumSuite += fig.Total
		}
		ideal := sumBare / time.Duration(f.parallel)
		fmt.Fprintf(w, "\nmatrix %s × %s (%d VMs, %d booted; declared-unrealizable ones are not booted):\n",
			strings.Join(f.matrix, ","), strings.Join(f.kernels, ","), len(bare), countStarted(res))
		fmt.Fprintf(w, "  sum of bare boots (one at a time):      %v\n", sec(sumBare))
		fmt.Fprintf(w, "  ideal = sum(bare) / -j %d:               %v\n", f.parallel, sec(ideal))
		fmt.Fprintf(w, "  bare VMs, -j %d, wall:                    %v  (%.2fx ideal)\n", f.parallel, sec(out.MatrixBareJ), out.MatrixBareJ.Seconds()/ideal.Seconds())
		fmt.Fprintf(w, "  suite VMs, -j %d, wall:                   %v  (%.2fx ideal)\n", f.parallel, sec(out.MatrixWall), out.MatrixWall.Seconds()/ideal.Seconds())
		fmt.Fprintf(w, "  suite VMs, sum of per-VM totals at -j %d: %v  (%.2fx sum of bare)\n", f.parallel, sec(sumSuite), sumSuite.Seconds()/sumBare.Seconds())
		for _, fig := range out.MatrixSuite {
			if fig.Err != "" {
				fmt.Fprintf(w, "  %s %s: %s\n", fig.Kernel, fig.Topology, fig.Err)
			}
		}
	}

	if slices.Contains(f.parts, "boot") {
		dir, err := os.MkdirTemp("", "perfconform-bench-boot-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		imgs, err := vmboot.BuildImages(ctx, dir, guestBin)
		if err != nil {
			return err
		}
		out.Images = imgs
		byName := map[string]vmboot.Image{}
		for _, i := range imgs {
			byName[i.Name] = i
			fmt.Fprintf(w, "\nimage %s: %.1f MiB", i.Name, float64(i.Size)/(1<<20))
		}
		fmt.Fprintln(w)
		kc := &kernel.Cache{Dir: cacheDir}
		type key struct {
			v, k string
			n    int
		}
		medians := map[key]vmboot.Boot{}
		for _, kname := range f.kernels {
			k, err := kc.Resolve(ctx, kname)
			if err != nil {
				return err
			}
			for _, n := range f.smp {
				// One unmeasured boot first: the first boot after a while pays
				// for cold page cache (kernel, image) and QEMU's own start.
				warm := vmboot.Run(ctx, k, n, qemu.AccelTCG, byName["bare"], vmboot.Variants()[0], filepath.Join(dir, "console-warmup.log"))
				line(fmt.Sprintf("boot warm-up %s -smp %d: total %v %s", kname, n, sec(warm.Total), warm.Err))
				boots := map[string][]vmboot.Boot{}
				// Variants interleaved within each repetition, so drift in the
				// host's load spreads over all of them.
				for rep := range f.reps {
					for _, v := range vmboot.Variants() {
						if v.Probe && rep > 0 {
							continue
						}
						b := vmboot.Run(ctx, k, n, qemu.AccelTCG, byName[v.Image], v, filepath.Join(dir, fmt.Sprintf("console-%s-%d-%d.log", kname, n, rep)))
						line(fmt.Sprintf("boot %s %s -smp %d: init %v, total %v %s", v.Name, kname, n, sec(b.Init), sec(b.Total), b.Err))
						boots[v.Name] = append(boots[v.Name], b)
						out.Boots = append(out.Boots, b)
					}
				}
				for name, bs := range boots {
					slices.SortFunc(bs, func(a, b vmboot.Boot) int { return int(a.Total - b.Total) })
					medians[key{name, kname, n}] = bs[len(bs)/2]
				}
			}
		}
		fmt.Fprintf(w, "\nbare boots below vmtest, TCG, one at a time, median of %d (total = QEMU start → exit; vs = total / baseline total):\n", f.reps)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "variant\tkernel\t-smp\tinit\ttotal\tvs baseline\terror")
		for _, kname := range f.kernels {
			for _, n := range f.smp {
				base := medians[key{"baseline", kname, n}]
				for _, v := range vmboot.Variants() {
					b, ok := medians[key{v.Name, kname, n}]
					if !ok {
						continue
					}
					ratio := "-"
					if base.Total > 0 && b.Err == "" {
						ratio = fmt.Sprintf("%.2fx", b.Total.Seconds()/base.Total.Seconds())
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%v\t%s\t%s\n", v.Name, kname, n, sec(b.Init), sec(b.Total), ratio, dash(firstLine(b.Err)))
				}
			}
		}
		tw.Flush()
	}
	return nil
}

func countStarted(rs []vmtest.VMResult) int {
	n := 0
	for _, r := range rs {
		if !r.Started.IsZero() {
			n++
		}
	}
	return n
}

func sec(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// loadAvg is /proc/loadavg's first three fields: other work on the host
// (other engineers' VMs) shows up here and in every figure.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// machineLine names the host the figures come from: CPUs, CPU model, kernel.
func machineLine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	return fmt.Sprintf("%d CPUs, %s, Linux %s", runtime.NumCPU(), model, unix.ByteSliceToString(u.Release[:]))
}

var benchSizingJSON string

var benchSizingCmd = &cobra.Command{
	Use:   "sizing",
	Short: "What topology detection and perf array sizing add to a load: reference vs cilium/ebpf (root)",
	Long: `Times the sizing path alone (reference: ReadPossible + PerfArraySize; cilium/ebpf: PossibleCPU,
first call and cached), whole loads of 1 and 4 perf arrays with and without detection, and counts
opens of the possible-CPU file over 10 loads of 4 arrays with inotify (a fake sysfs root for the
reference; the real file, where other processes' opens would count too, for both loaders).`,
	RunE: func(cmd *cobra.Command, args []string) error {
		load := loadAvg()
		res, err := sizing.Run()
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		fmt.Fprintln(w, "machine:", machineLine())
		fmt.Fprintf(w, "load average at start: %s, at end: %s\n", load, loadAvg())
		fmt.Fprintf(w, "cilium/ebpf PossibleCPU, first call in the process: %v\n", res.CiliumFirstCall)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "operation\tper op\tallocs/op\tN")
		for _, f := range res.Figures {
			fmt.Fprintf(tw, "%s\t%.1fµs\t%d\t%d\n", f.Name, float64(f.PerOp)/1e3, f.AllocsPerOp, f.N)
		}
		tw.Flush()
		byName := map[string]time.Duration{}
		for _, f := range res.Figures {
			byName[f.Name] = f.PerOp
		}
		for _, n := range []int{1, 4} {
			d := byName[fmt.Sprintf("reference: load %d perf arrays, detect (sysfs)", n)] -
				byName[fmt.Sprintf("reference: load %d perf arrays, WithPossibleCPUs (no detection)", n)]
			c := byName[fmt.Sprintf("cilium/ebpf: load %d perf arrays, max_entries 0 (fixup)", n)] -
				byName[fmt.Sprintf("cilium/ebpf: load %d perf arrays, max_entries set (no fixup)", n)]
			fmt.Fprintf(w, "added by sizing, %d perf arrays: reference %.1fµs, cilium/ebpf %.1fµs (load difference; noise is a few µs)\n",
				n, float64(d)/1e3, float64(c)/1e3)
		}
		for _, c := range res.Counts {
			fmt.Fprintf(w, "opens of %s: %d over %d loads of %d perf arrays (%s)\n", c.File, c.Opens, c.Loads, c.PerfMaps, c.Name)
		}
		if benchSizingJSON != "" {
			return writeJSONFile(benchSizingJSON, res)
		}
		return nil
	},
}

func init() {
	benchSizingCmd.Flags().StringVar(&benchSizingJSON, "json", "", "also write the raw figures to this JSON file")
	benchCmd.AddCommand(benchSizingCmd)
}
