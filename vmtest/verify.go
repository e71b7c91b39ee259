package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/perfconform/perfconform/vmtest/topology"
)

// TopologyVerdict is one VM of VerifyTopologies.
type TopologyVerdict struct {
	VMResult
	// Failed: the VM did not realize its topology, and that is not what the
	// topology declares for the VM's kernel (see unexpected).
	Failed bool
}

// VerifyTopologies boots every topology on every kernel (kernel-major, in
// the order given) with guest as /init (a static binary, e.g. conform;
// "" builds cmd/conform, see WithGuestBinary) and compares the masks the
// guest reads with each topology's expectation. A topology declared not
// realizable on a kernel is not booted unless bootUnrealizable, which boots
// it to measure what the kernel does. The error is Run's: a failure that
// stopped the whole run.
func VerifyTopologies(ctx context.Context, guest string, kernels []string, tops []topology.Topology, bootUnrealizable bool, opts ...Option) ([]TopologyVerdict, error) {
	var jobs []Job
	for _, k := range kernels {
		for _, t := range tops {
			jobs = append(jobs, Job{Kernel: k, Topology: t, BootUnrealizable: bootUnrealizable})
		}
	}
	if guest != "" {
		opts = append([]Option{WithGuestBinary(guest)}, opts...)
	}
	res, err := Run(ctx, jobs, opts...)
	if err != nil {
		return nil, err
	}
	out := make([]TopologyVerdict, len(res))
	for i, r := range res {
		out[i] = TopologyVerdict{VMResult: r, Failed: unexpected(jobs[i].Topology, r)}
	}
	return out, nil
}

// unexpected is true when r failed other than as t declares for r's kernel:
// a topology declared not realizable there that was not booted, or was
// booted and the guest confirmed it, is the expectation; a VM that timed
// out, ended without done or whose QEMU failed says nothing about the
// topology, so it fails.
func unexpected(t topology.Topology, r VMResult) bool {
	if r.Err == nil {
		return false
	}
	if _, err := t.ExpectFor(r.Kernel.Arch, r.Kernel.Release); !errors.Is(err, topology.ErrNotRealizable) {
		return true
	}
	for _, broken := range []error{ErrTimeout, ErrNoDone, ErrQEMU} {
		if errors.Is(r.Err, broken) {
			return true
		}
	}
	return !errors.Is(r.Err, ErrNotRealizable) && !errors.Is(r.Err, ErrTopologyNotRealized)
}

// WriteVerifyTable writes res (VerifyTopologies) as `conform topologies
// verify` shows it: one row per VM with the masks the guest read (and the
// CPUs the loaders' cgroup cpuset took effect on, where the topology
// restricts them: cpuset), whether
// they matched, its boot and total time and the first line of its error.
// failed counts the verdicts that failed (TopologyVerdict.Failed).
func WriteVerifyTable(w io.Writer, res []TopologyVerdict) (failed int, err error) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tTOPOLOGY\tACCEL\tPOSSIBLE\tPRESENT\tONLINE\tLOADER CPUS\tREALIZED\tBOOT\tTOTAL\tERROR")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range res {
		errText := "-"
		if r.Err != nil {
			errText = firstLine(r.Err.Error())
		}
		if r.Failed {
			failed++
		}
		total := time.Duration(0)
		if !r.Started.IsZero() {
			total = r.Ended.Sub(r.Started)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%v\t%v\t%s\n", r.Kernel.Release, r.Topology, r.Accelerator,
			dash(r.Masks.Possible), dash(r.Masks.Present), dash(r.Masks.Online), dash(r.Masks.Affinity), r.Realized,
			r.BootTime().Round(100*time.Millisecond), total.Round(100*time.Millisecond), errText)
	}
	return failed, tw.Flush()
}
