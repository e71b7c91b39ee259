package readers

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the results as `conform bench readers` reports them: one
// row per (size, mode, reader) with each reader's samples/s as a ratio of
// the reference's (ReadInto) and of reference-func's (ReadFunc), then every
// goal as met or MISSED.
func WriteTable(w io.Writer, res []Result) {
	ref := map[string]Result{}
	fn := map[string]Result{}
	for _, r := range res {
		switch r.Reader {
		case Reference:
			ref[fmt.Sprint(r.Size, r.Mode)] = r
		case ReferenceFunc:
			fn[fmt.Sprint(r.Size, r.Mode)] = r
		}
	}
	ratioTo := func(base map[string]Result, r Result) string {
		if b, ok := base[fmt.Sprint(r.Size, r.Mode)]; ok && r.SamplesPerSec() > 0 {
			return fmt.Sprintf("%.2fx", b.SamplesPerSec()/r.SamplesPerSec())
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tmode\treader\tsamples/s\tref/this\tfunc/this\tdelivered\tlost\tloss ok\tCPU ms/M samples\tallocs in reads\t")
	for _, r := range res {
		allocs := "n/a"
		if r.AllocsPerSample >= 0 {
			allocs = fmt.Sprintf("%d in %d", r.Allocs, r.AllocSamples)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%s\t%s\t%d\t%d\t%v\t%.1f\t%s\t\n", r.Size, r.Mode, r.Reader, r.SamplesPerSec(), ratioTo(ref, r),
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
		of   map[string]Result
	}{{Reference, ref}, {ReferenceFunc, fn}} {
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
			case Cilium:
				fmt.Fprintf(w, "  %5dB %-12s %s ≥ 1.5x %s: %.2fx, %s\n", r.Size, r.Mode, base.name, r.Reader, x, verdict(x >= 1.5))
			case Libbpf, LibbpfCopy:
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
		if r.Mode == RateLimited && r.Lost > 0 {
			fmt.Fprintf(w, "  %5dB %-12s %s: lost %d samples below saturation, goal MISSED\n", r.Size, r.Mode, r.Reader, r.Lost)
		}
		if !r.LossAccounted() {
			fmt.Fprintf(w, "  %5dB %-12s %s: reported %d lost but the kernel dropped %d\n", r.Size, r.Mode, r.Reader, r.Lost, r.Attempted-r.Accepted)
		}
	}
}
