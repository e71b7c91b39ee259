package readers

import (
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/perfemit"
)

// MaxBatch bounds the samples one program run emits.
const MaxBatch = perfemit.MaxBatch

// producer is internal/perfemit's program in CountAccepted mode, without
// stamps: it calls bpf_perf_event_output up to MaxBatch times per run and
// returns how many of those calls succeeded. Unlike the perfring tests it
// does not stop at the first -ENOSPC: at saturation the harness needs to
// know exactly how many samples entered the rings, so that a reader is done
// when it has delivered that many.
type producer struct{ e *perfemit.Emitter }

// newProducer loads the program for perf. Samples up to 256 bytes come from
// the stack; larger ones (4 KiB) from the value of a per-CPU array, since
// the BPF stack is 512 bytes.
func newProducer(perf *ebpf.Map, size int) (*producer, error) {
	src := perfemit.Stack
	if size > 256 {
		src = perfemit.PerCPUMap
	}
	e, err := perfemit.New(perf, perfemit.Config{Size: size, Source: src, Mode: perfemit.CountAccepted})
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &producer{e: e}, nil
}

func (p *producer) close() { p.e.Close() }

// cpuRunner runs the program on one CPU from a thread pinned to that CPU, so
// BPF_F_TEST_RUN_ON_CPU runs it locally instead of by IPI.
type cpuRunner struct{ r *perfemit.Runner }

// pin locks the calling goroutine to its thread and the thread to cpu. The
// caller must call runtime.UnlockOSThread when done with the runner.
func (p *producer) pin(cpu int) (*cpuRunner, error) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("producer: pin thread to CPU %d: %w", cpu, err)
	}
	return &cpuRunner{r: p.e.Runner(cpu)}, nil
}

// emit asks for n samples (≤ MaxBatch) and returns how many entered the ring.
func (r *cpuRunner) emit(n int) (int, error) {
	ret, err := r.r.Run(n)
	if err != nil {
		return 0, fmt.Errorf("producer: %w", err)
	}
	return int(ret), nil
}
