package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/bench/libbpfdrv"
	"github.com/perfconform/perfconform/bench/readers"
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
	jsonOut string
}

var benchReadersCmd = &cobra.Command{
	Use:   "readers",
	Short: "Perf reader throughput: reference vs cilium/ebpf ReadInto vs libbpf 1.1 perf_buffer (root)",
	Long: `Runs producers (a BPF program emitting up to 1024 samples per BPF_PROG_TEST_RUN, one pinned
thread per online CPU, all at once) into the same perf event array layout for each reader, at
each sample size, saturated (Rounds runs, readers interleaved, median kept) and rate-limited.
Prints samples/s, lost samples, reader CPU time per million samples, allocations per sample,
and each reader's samples/s as a ratio of the reference's.`,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := benchReadersFlags
		cfg := readers.Config{
			Readers: f.readers, Sizes: f.sizes, Pages: f.pages, Samples: f.samples, Rounds: f.rounds,
			Rate: f.rate, RateDuration: f.rateDur,
			Progress: func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) },
		}
		if len(cfg.Readers) == 0 || slices.Contains(cfg.Readers, readers.Libbpf) {
			dir, err := os.MkdirTemp("", "perfconform-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if cfg.LibbpfDriver, err = libbpfdrv.Build(cmd.Context(), dir); err != nil {
				return err
			}
		}
		res, err := readers.Run(cmd.Context(), cfg)
		printReaderResults(cmd.OutOrStdout(), res)
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
	for _, r := range res {
		if r.Reader == readers.Reference {
			ref[fmt.Sprint(r.Size, r.Mode)] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tmode\treader\tsamples/s\tref/this\tdelivered\tlost\tloss ok\tCPU ms/M samples\tallocs/sample\t")
	for _, r := range res {
		ratio := "-"
		if b, ok := ref[fmt.Sprint(r.Size, r.Mode)]; ok && r.SamplesPerSec() > 0 {
			ratio = fmt.Sprintf("%.2fx", b.SamplesPerSec()/r.SamplesPerSec())
		}
		allocs := "n/a"
		if r.AllocsPerSample >= 0 {
			allocs = fmt.Sprintf("%.4f", r.AllocsPerSample)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%s\t%d\t%d\t%v\t%.1f\t%s\t\n", r.Size, r.Mode, r.Reader, r.SamplesPerSec(), ratio,
			r.Delivered, r.Lost, r.LossAccounted(), float64(r.CPUPerMillion())/1e6, allocs)
	}
	tw.Flush()
}

func init() {
	f := benchReadersCmd.Flags()
	f.StringSliceVar(&benchReadersFlags.readers, "reader", nil, "readers to measure (default reference,cilium-ebpf,libbpf)")
	f.IntSliceVar(&benchReadersFlags.sizes, "size", nil, "sample sizes in bytes, multiples of 8 (default 8,256,4096)")
	f.IntVar(&benchReadersFlags.pages, "pages", 256, "data pages per CPU ring, the same for every reader")
	f.IntVar(&benchReadersFlags.samples, "samples", 0, "samples each CPU attempts per saturated run (default 524288, 65536 above 256 B)")
	f.IntVar(&benchReadersFlags.rounds, "rounds", 3, "saturated runs per reader and size; the median is reported")
	f.IntVar(&benchReadersFlags.rate, "rate", 20000, "rate-limited producer: samples/s per CPU (negative: skip)")
	f.DurationVar(&benchReadersFlags.rateDur, "rate-duration", 2*time.Second, "rate-limited run length")
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
