// Package perfemit writes perf samples on demand: a raw_tracepoint program
// that calls bpf_perf_event_output(ctx, array, BPF_F_CURRENT_CPU, data, size)
// up to MaxBatch times per run, run with BPF_PROG_TEST_RUN on a chosen CPU
// (BPF_F_TEST_RUN_ON_CPU). The perf ring reader's tests and the reader
// benchmark (bench/readers) both drive their rings with it.
//
// The data comes from the stack (up to 512 bytes) or from the value of a
// per-CPU array (any size the kernel's perf output takes). Its content is a
// pattern Payload reproduces: from the stack, bytes 8i..8i+7 hold the u64 i
// for i >= 1; from the map, the value of CPU c holds byte(i*31+c) at offset
// i >= 8. With Stamp the first 8 bytes are the u32 id of the CPU that wrote
// the sample and its u32 sequence number within the run; without, zeros.
//
// Two ways to report: StopAtFirstError ends the run at the first failed
// output and returns its negative errno (0 when all succeeded), which tests
// use to see the kernel's verdict on a ring; CountAccepted never stops and
// returns how many outputs succeeded, which a benchmark needs at saturation
// to know how many samples entered the rings. Its count is branch-free: a
// branch per sample would make the verifier walk every (iteration, count)
// pair.
package perfemit

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// MaxBatch bounds the samples one run emits; the verifier walks every
// iteration of the loop.
const MaxBatch = 1024

// maxStack is the BPF stack.
const maxStack = 512

// ErrConfig means a Config the program cannot be built for.
var ErrConfig = errors.New("perf emitter: bad config")

// Source is where the sample data comes from.
type Source int

const (
	// Stack data: at most 512 bytes (504 with CountAccepted, whose counter
	// shares the stack).
	Stack Source = iota
	// PerCPUMap data: the value of a one-entry per-CPU array, which lifts
	// the stack limit.
	PerCPUMap
)

func (s Source) String() string {
	if s == PerCPUMap {
		return "per-CPU map"
	}
	return "stack"
}

// Mode is what a run returns.
type Mode int

const (
	// StopAtFirstError: 0, or the negative errno of the first failed
	// bpf_perf_event_output, after which the run stops.
	StopAtFirstError Mode = iota
	// CountAccepted: how many of the requested outputs succeeded.
	CountAccepted
)

// Config says what the program emits.
type Config struct {
	Size   int // bytes per sample, a positive multiple of 8
	Source Source
	Stamp  bool // the first 8 bytes: u32 CPU id, u32 sequence number
	Mode   Mode
}

// Emitter is a loaded emitter program.
type Emitter struct {
	cfg  Config
	prog *ebpf.Program
	src  *ebpf.Map // PerCPUMap's source; nil for Stack
}

// New loads an emitter writing into perf, a perf event array; the program
// references perf, and closing the Emitter does not close it.
func New(perf *ebpf.Map, cfg Config) (_ *Emitter, err error) {
	limit := maxStack
	if cfg.Mode == CountAccepted {
		limit -= 8
	}
	switch {
	case cfg.Size < 8 || cfg.Size%8 != 0:
		return nil, fmt.Errorf("%w: sample size %d is not a positive multiple of 8", ErrConfig, cfg.Size)
	case cfg.Source == Stack && cfg.Size > limit:
		return nil, fmt.Errorf("%w: %d-byte samples do not fit the stack (at most %d here)", ErrConfig, cfg.Size, limit)
	case cfg.Source != Stack && cfg.Source != PerCPUMap:
		return nil, fmt.Errorf("%w: source %d", ErrConfig, cfg.Source)
	case cfg.Mode != StopAtFirstError && cfg.Mode != CountAccepted:
		return nil, fmt.Errorf("%w: mode %d", ErrConfig, cfg.Mode)
	}
	e := &Emitter{cfg: cfg}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()

	var setup, stamp, data asm.Instructions
	var counter int16 // CountAccepted's stack slot
	failed := int32(0)
	if cfg.Mode == StopAtFirstError {
		failed = -int32(unix.ENOENT)
	}
	if cfg.Source == Stack {
		off := int16(-cfg.Size)
		counter = off - 8
		lo, hi := int16(0), int16(4) // a u64 as two words: asm has no 64-bit StoreImm
		if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
			lo, hi = hi, lo
		}
		first := 1
		if !cfg.Stamp {
			first = 0 // slot 0 is stamped in the loop otherwise
		}
		for i := first; i < cfg.Size/8; i++ {
			setup = append(setup,
				asm.StoreImm(asm.RFP, off+int16(8*i)+lo, int64(i), asm.Word),
				asm.StoreImm(asm.RFP, off+int16(8*i)+hi, 0, asm.Word),
			)
		}
		stamp = asm.Instructions{
			asm.StoreMem(asm.RFP, off, asm.R0, asm.Word),
			asm.StoreMem(asm.RFP, off+4, asm.R8, asm.Word),
		}
		data = asm.Instructions{asm.Mov.Reg(asm.R4, asm.RFP), asm.Add.Imm(asm.R4, int32(off))}
	} else {
		if e.src, err = newSource(cfg.Size); err != nil {
			return nil, err
		}
		counter = -16
		setup = asm.Instructions{
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, e.src.FD()),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "found"),
			asm.Mov.Imm(asm.R0, failed),
			asm.Return(),
			asm.Mov.Reg(asm.R9, asm.R0).WithSymbol("found"),
		}
		stamp = asm.Instructions{
			asm.StoreMem(asm.R9, 0, asm.R0, asm.Word),
			asm.StoreMem(asm.R9, 4, asm.R8, asm.Word),
		}
		data = asm.Instructions{asm.Mov.Reg(asm.R4, asm.R9)}
	}

	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),               // ctx
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord), // count = ctx[0], clamped to 1..MaxBatch
		asm.JLE.Imm(asm.R7, MaxBatch, "clamped"),
		asm.Mov.Imm(asm.R7, MaxBatch),
		asm.JNE.Imm(asm.R7, 0, "counted").WithSymbol("clamped"),
		asm.Mov.Imm(asm.R7, 1),
		asm.Mov.Imm(asm.R8, 0).WithSymbol("counted"), // sequence
	}
	insns = append(insns, setup...)
	if cfg.Mode == CountAccepted {
		insns = append(insns, asm.StoreImm(asm.RFP, counter, 0, asm.Word), asm.StoreImm(asm.RFP, counter+4, 0, asm.Word))
	}
	loop := asm.Instructions{}
	if cfg.Stamp {
		loop = append(loop, asm.FnGetSmpProcessorId.Call())
		loop = append(loop, stamp...)
	}
	loop = append(loop,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, perf.FD()),
		asm.LoadImm(asm.R3, unix.BPF_F_CURRENT_CPU, asm.DWord),
	)
	loop = append(loop, data...)
	loop = append(loop, asm.Mov.Imm(asm.R5, int32(cfg.Size)), asm.FnPerfEventOutput.Call())
	loop[0] = loop[0].WithSymbol("loop")
	insns = append(insns, loop...)
	if cfg.Mode == CountAccepted {
		insns = append(insns,
			// counter += r0 < 0 ? 0 : 1, without a branch.
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
	} else {
		insns = append(insns,
			asm.JSLT.Imm(asm.R0, 0, "out"),
			asm.Add.Imm(asm.R8, 1),
			asm.JLT.Reg(asm.R8, asm.R7, "loop"),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return().WithSymbol("out"),
		)
	}
	e.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "perfemit", Type: ebpf.RawTracepoint, License: "GPL", Instructions: insns,
	})
	if err != nil {
		return nil, fmt.Errorf("perf emitter: load program for %d-byte samples from the %s: %w", cfg.Size, cfg.Source, err)
	}
	return e, nil
}

// newSource creates the per-CPU array and fills every CPU's value with its
// pattern.
func newSource(size int) (*ebpf.Map, error) {
	src, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "perfemit_src", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(size), MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("perf emitter: per-CPU source map of %d bytes: %w", size, err)
	}
	possible, err := ebpf.PossibleCPU()
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("perf emitter: %w", err)
	}
	values := make([][]byte, possible)
	for cpu := range values {
		values[cpu] = mapPattern(cpu, size)
	}
	if err := src.Put(uint32(0), values); err != nil {
		src.Close()
		return nil, fmt.Errorf("perf emitter: fill per-CPU source map: %w", err)
	}
	return src, nil
}

func mapPattern(cpu, size int) []byte {
	p := make([]byte, size)
	for i := 8; i < size; i++ {
		p[i] = byte(i*31 + cpu)
	}
	return p
}

// Config returns the emitter's configuration.
func (e *Emitter) Config() Config { return e.cfg }

// Close unloads the program and its source map.
func (e *Emitter) Close() error {
	var errs []error
	if e.prog != nil {
		errs = append(errs, e.prog.Close())
		e.prog = nil
	}
	if e.src != nil {
		errs = append(errs, e.src.Close())
		e.src = nil
	}
	return errors.Join(errs...)
}

// Runner runs the program on one CPU without allocating: a benchmark's
// producer calls Run in its loop.
type Runner struct {
	e    *Emitter
	cpu  int
	ctx  []byte
	opts ebpf.RunOptions
}

// Runner returns a runner for cpu. BPF_F_TEST_RUN_ON_CPU runs the program on
// cpu by IPI unless the calling thread is already there; pinning the thread
// is the caller's business.
func (e *Emitter) Runner(cpu int) *Runner {
	r := &Runner{e: e, cpu: cpu, ctx: make([]byte, 8)}
	r.opts = ebpf.RunOptions{CPU: uint32(cpu), Flags: unix.BPF_F_TEST_RUN_ON_CPU, Context: r.ctx}
	return r
}

// Run asks for n samples (clamped to 1..MaxBatch) and returns what the mode
// says: the count accepted, or 0 / the first negative errno.
func (r *Runner) Run(n int) (int32, error) {
	binary.NativeEndian.PutUint64(r.ctx, uint64(n))
	ret, err := r.e.prog.Run(&r.opts)
	if err != nil {
		return 0, fmt.Errorf("perf emitter: run on CPU %d: %w", r.cpu, err)
	}
	return int32(ret), nil
}

// Run is Runner(cpu).Run(n).
func (e *Emitter) Run(cpu, n int) (int32, error) { return e.Runner(cpu).Run(n) }

// Payload is sample seq from cpu as the program writes it, without the
// kernel's padding (see RawLen).
func (e *Emitter) Payload(cpu, seq int) []byte {
	var p []byte
	if e.cfg.Source == PerCPUMap {
		p = mapPattern(cpu, e.cfg.Size)
	} else {
		p = make([]byte, e.cfg.Size)
		for i := 1; i < e.cfg.Size/8; i++ {
			binary.NativeEndian.PutUint64(p[8*i:], uint64(i))
		}
	}
	if e.cfg.Stamp {
		binary.NativeEndian.PutUint32(p[0:], uint32(cpu))
		binary.NativeEndian.PutUint32(p[4:], uint32(seq))
	} else {
		clear(p[:8])
	}
	return p
}

// RawLen is the raw sample length the kernel reports for size bytes: the u32
// size field plus the data, padded to 8 bytes, minus the size field.
func RawLen(size int) int { return (size+4+7)&^7 - 4 }
