package readers

import (
	"encoding/binary"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// MaxBatch bounds the samples one program run emits; the verifier walks
// every iteration of the loop.
const MaxBatch = 1024

// producer is a raw_tracepoint program that calls
// bpf_perf_event_output(ctx, perf, BPF_F_CURRENT_CPU, data, size) ctx[0]
// times (1..MaxBatch) and returns how many of those calls succeeded. Unlike
// the perfring tests' emitter it does not stop at the first -ENOSPC: at
// saturation the harness needs to know exactly how many samples entered the
// rings, so that a reader is done when it has delivered that many.
type producer struct {
	prog *ebpf.Program
	src  *ebpf.Map // per-CPU array the data comes from; nil: the stack
	size int
}

// newProducer loads the program for perf. Samples up to 256 bytes come from
// the stack; larger ones (4 KiB) from the value of a per-CPU array, since
// the BPF stack is 512 bytes.
func newProducer(perf *ebpf.Map, size int) (_ *producer, err error) {
	if size < 8 || size%8 != 0 {
		return nil, fmt.Errorf("producer: sample size %d is not a positive multiple of 8", size)
	}
	p := &producer{size: size}
	var setup, data asm.Instructions
	var counter int16 // stack slot of the success counter
	if size <= 256 {
		off := int16(-size)
		counter = off - 8
		for i := 0; i < size/4; i++ { // cilium/ebpf's asm has no 64-bit StoreImm
			setup = append(setup, asm.StoreImm(asm.RFP, off+int16(4*i), 0, asm.Word))
		}
		data = asm.Instructions{asm.Mov.Reg(asm.R4, asm.RFP), asm.Add.Imm(asm.R4, int32(off))}
	} else {
		p.src, err = ebpf.NewMap(&ebpf.MapSpec{
			Name: "pcbench_src", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(size), MaxEntries: 1,
		})
		if err != nil {
			return nil, fmt.Errorf("producer: per-CPU source map of %d bytes: %w", size, err)
		}
		counter = -16
		setup = asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, p.src.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "found"),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
			asm.Mov.Reg(asm.R9, asm.R0).WithSymbol("found"),
		}
		data = asm.Instructions{asm.Mov.Reg(asm.R4, asm.R9)}
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),               // ctx
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord), // count = ctx[0]
		asm.JLE.Imm(asm.R7, MaxBatch, "clamped"),
		asm.Mov.Imm(asm.R7, MaxBatch),
		asm.JNE.Imm(asm.R7, 0, "counted").WithSymbol("clamped"),
		asm.Mov.Imm(asm.R7, 1),
		asm.Mov.Imm(asm.R8, 0).WithSymbol("counted"), // i
	}
	insns = append(insns, setup...)
	insns = append(insns, asm.StoreImm(asm.RFP, counter, 0, asm.Word), asm.StoreImm(asm.RFP, counter+4, 0, asm.Word))
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("loop"),
		asm.LoadMapPtr(asm.R2, perf.FD()),
		asm.LoadImm(asm.R3, unix.BPF_F_CURRENT_CPU, asm.DWord),
	)
	insns = append(insns, data...)
	insns = append(insns,
		asm.Mov.Imm(asm.R5, int32(size)),
		asm.FnPerfEventOutput.Call(),
		// counter += r0 < 0 ? 0 : 1, without a branch: a branch per sample
		// would make the verifier walk every (iteration, count) pair.
		asm.ArSh.Imm(asm.R0, 63),
		asm.Add.Imm(asm.R0, 1),
		asm.LoadMem(asm.R1, asm.RFP, counter, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R0),
		asm.StoreMem(asm.RFP, counter, asm.R1, asm.DWord),
		asm.Add.Imm(asm.R8, 1),
		asm.JLT.Reg(asm.R8, asm.R7, "loop"),
		asm.LoadMem(asm.R0, asm.RFP, counter, asm.DWord),
		asm.Return(),
	)
	p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "pcbench_emit", Type: ebpf.RawTracepoint, License: "GPL", Instructions: insns,
	})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("producer: load %d-byte program: %w", size, err)
	}
	return p, nil
}

func (p *producer) close() {
	if p.prog != nil {
		p.prog.Close()
	}
	if p.src != nil {
		p.src.Close()
	}
}

// cpuRunner runs the program on one CPU from a thread pinned to that CPU, so
// BPF_F_TEST_RUN_ON_CPU runs it locally instead of by IPI.
type cpuRunner struct {
	p    *producer
	cpu  int
	ctx  []byte
	opts ebpf.RunOptions
}

// pin locks the calling goroutine to its thread and the thread to cpu. The
// caller must call runtime.UnlockOSThread when done with the runner.
func (p *producer) pin(cpu int) (*cpuRunner, error) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("producer: pin thread to CPU %d: %w", cpu, err)
	}
	r := &cpuRunner{p: p, cpu: cpu, ctx: make([]byte, 8)}
	r.opts = ebpf.RunOptions{CPU: uint32(cpu), Flags: unix.BPF_F_TEST_RUN_ON_CPU, Context: r.ctx}
	return r, nil
}

// emit asks for n samples (≤ MaxBatch) and returns how many entered the ring.
func (r *cpuRunner) emit(n int) (int, error) {
	binary.NativeEndian.PutUint64(r.ctx, uint64(n))
	ret, err := r.p.prog.Run(&r.opts)
	if err != nil {
		return 0, fmt.Errorf("producer: run on CPU %d: %w", r.cpu, err)
	}
	return int(ret), nil
}
