package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/bench/machine"
	"github.com/perfconform/perfconform/bench/readers"
	"github.com/perfconform/perfconform/bench/sizing"
	"github.com/perfconform/perfconform/bench/vmbench"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/vmtest/kernel"
)

// benchCmd groups the benchmarks behind docs/PERFORMANCE.md; each prints its
// figures and the ratios the goals are stated in, measured in one run.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Reproduce the figures in docs/PERFORMANCE.md: perf readers, sizing cost, VM harness overhead",
}

var benchReadersFlags struct {
	cfg     readers.Config
	jsonOut string
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
		f.cfg.Progress = func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) }
		w := cmd.OutOrStdout()
		end := machine.Header(w)
		fmt.Fprintf(w, "rings: %d pages per CPU\n", f.cfg.Pages)
		res, err := readers.Run(cmd.Context(), f.cfg)
		readers.WriteTable(w, res)
		end()
		if len(res) == 0 {
			return err
		}
		return errors.Join(err, writeJSONFile(f.jsonOut, res))
	},
}

var benchVMFlags struct {
	cfg     vmbench.Config
	loaders []string
	jsonOut string
}

var benchVMCmd = &cobra.Command{
	Use:   "vm",
	Short: "VM harness overhead: suite vs bare boots per -smp and kernel, per loader, the matrix vs its ideal, and what each boot cost is (root)",
	Long: `Three parts, each printed with its ratios (--part selects):

  pervm    for each kernel and -smp N: one VM per --loader running the real suite payload with that
           loader alone (default: the reference, in-process) and one running no suite (the guest only
           realizes and reports its topology, as 'conform topologies verify' boots it), one VM at a
           time, --rounds times; QEMU start → booted → done → exit, the after-boot time (total − boot,
           conform run's AFTER) and each loader's spec seconds, held to issue 14's goals.
  matrix   the --matrix topologies on every kernel: bare VMs one at a time (their sum is the ideal's
           numerator), then the suite VMs (every --loader in each) -j at a time; wall time vs sum(bare)/j.
  boot     below vmtest: the same QEMU command line with a bare init that powers off at once,
           varying one thing at a time (initramfs size and gzip, quiet, qboot, -no-hpet, microvm).`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := benchVMFlags
		ctx, w := cmd.Context(), cmd.OutOrStdout()
		line := func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) }
		if err := f.cfg.Validate(); err != nil {
			return err
		}
		cacheDir, err := kernel.DefaultCacheDir()
		if err != nil {
			return err
		}
		if f.cfg.GuestBinary, err = conform.StaticGuest(ctx, cacheDir, line); err != nil {
			return err
		}
		var loaders []conform.Loader
		for _, l := range f.loaders {
			loaders = append(loaders, conform.ParseLoader(l))
		}
		if f.cfg.Alone, f.cfg.Suite, err = conform.GuestPayloads(ctx, loaders, f.cfg.Kernels, "", line); err != nil {
			return err
		}
		f.cfg.CacheDir, f.cfg.Progress, f.cfg.Out = cacheDir, line, w
		defer machine.Header(w)()
		res, err := vmbench.Run(ctx, f.cfg)
		if res == nil {
			return err
		}
		return errors.Join(err, writeJSONFile(f.jsonOut, res))
	},
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
		w := cmd.OutOrStdout()
		defer machine.Header(w)()
		res, err := sizing.Run()
		if err != nil {
			return err
		}
		res.WriteTable(w)
		return writeJSONFile(benchSizingJSON, res)
	},
}

func init() {
	f := benchReadersCmd.Flags()
	rc := &benchReadersFlags.cfg
	f.StringSliceVar(&rc.Readers, "reader", nil, "readers to measure (default reference,reference-func,reference-watermark,cilium-ebpf,libbpf,libbpf-copy)")
	f.IntSliceVar(&rc.Sizes, "size", nil, "sample sizes in bytes, multiples of 8 (default 8,256,4096)")
	f.IntVar(&rc.Pages, "pages", 256, "data pages per CPU ring, the same for every reader")
	f.IntVar(&rc.Samples, "samples", 0, "samples each CPU attempts per saturated run (default 524288, 65536 above 256 B)")
	f.IntVar(&rc.Rounds, "rounds", 3, "saturated runs per reader and size; the median is reported")
	f.IntVar(&rc.Rate, "rate", 20000, "rate-limited producer: samples/s per CPU (negative: skip)")
	f.DurationVar(&rc.RateDuration, "rate-duration", 2*time.Second, "rate-limited run length")
	f.BoolVar(&rc.NoDrain, "no-drain", false, "skip the drain mode (each reader alone on pre-filled rings)")
	f.StringVar(&rc.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the whole run (producers included) to this file")
	f.StringVar(&benchReadersFlags.jsonOut, "json", "", "also write the results to this JSON file")

	f = benchVMCmd.Flags()
	vc := &benchVMFlags.cfg
	f.StringSliceVar(&vc.Kernels, "kernel", vmbench.DefaultKernels, "kernels to boot")
	f.IntSliceVar(&vc.SMP, "smp", vmbench.DefaultSMP, "CPU counts for the per-VM and boot parts")
	f.StringSliceVar(&vc.Matrix, "matrix", vmbench.DefaultMatrix, "topologies (names or sets) for the matrix part")
	f.IntVarP(&vc.Parallel, "jobs", "j", vmbench.DefaultParallel, "VMs at once in the matrix part")
	f.IntVar(&vc.Reps, "reps", vmbench.DefaultReps, "boots per (variant, kernel, -smp) in the boot part; the median is printed")
	f.IntVar(&vc.Rounds, "rounds", 1, "VMs per (loader, kernel, -smp) in the per-VM part, interleaved")
	f.StringSliceVar(&vc.Parts, "part", vmbench.Parts, "parts to run")
	f.StringArrayVar(&benchVMFlags.loaders, "loader", []string{"reference"}, "loader of the suite VMs (repeatable): a built-in name or an adapter path, as for 'conform run'")
	f.StringVar(&vc.OutDir, "out", "", "keep each vmtest VM's events.jsonl, console.log and vm.json here (per part)")
	f.StringVar(&benchVMFlags.jsonOut, "json", "", "also write the raw figures to this JSON file")

	benchSizingCmd.Flags().StringVar(&benchSizingJSON, "json", "", "also write the raw figures to this JSON file")
	benchCmd.AddCommand(benchReadersCmd, benchVMCmd, benchSizingCmd)
	rootCmd.AddCommand(benchCmd)
}

// writeJSONFile writes v as indented JSON to path, if set, so a run's raw
// figures are kept next to the printed table.
func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
