package perfring_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/reference/topology"
)

// maxEmit bounds the samples one program run emits; the verifier walks every
// iteration of the loop.
const maxEmit = 1024

// emitter is a raw_tracepoint program that calls
// bpf_perf_event_output(ctx, perf, BPF_F_CURRENT_CPU, data, size) ctx[0]
// times (1..maxEmit) and returns 0, or the first negative r0 of the helper.
// Every sample starts with the u32 id of the CPU that wrote it and a u32
// sequence number within the run; the rest is a pattern (payload).
type emitter struct {
	prog *ebpf.Program
	size int
	src  *ebpf.Map // per-CPU array the data comes from; nil: the stack
}

// newStackEmitter emits size bytes (a multiple of 8, at most 512) from the
// stack; byte 8*i..8*i+7 holds the u64 i for i >= 1.
func newStackEmitter(tb testing.TB, perf *ebpf.Map, size int) *emitter {
	tb.Helper()
	if size < 8 || size%8 != 0 || size > 512 {
		tb.Fatalf("stack emitter: bad sample size %d", size)
	}
	e := &emitter{size: size}
	off := int16(-size)
	var fill asm.Instructions
	for i := 1; i < size/8; i++ {
		// u64 i, little or big endian: cilium/ebpf has no 64-bit StoreImm.
		lo, hi := int16(0), int16(4)
		if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
			lo, hi = hi, lo
		}
		fill = append(fill,
			asm.StoreImm(asm.RFP, off+int16(8*i)+lo, int64(i), asm.Word),
			asm.StoreImm(asm.RFP, off+int16(8*i)+hi, 0, asm.Word),
		)
	}
	stamp := asm.Instructions{
		asm.StoreMem(asm.RFP, off, asm.R0, asm.Word),
		asm.StoreMem(asm.RFP, off+4, asm.R8, asm.Word),
	}
	data := asm.Instructions{
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, int32(off)),
	}
	e.prog = loadEmitter(tb, perf, size, fill, stamp, data)
	return e
}

// newMapEmitter emits size bytes from the value of a per-CPU array, which
// lifts the 512-byte stack limit; the value of CPU c holds byte(i*31+c) at
// offset i >= 8.
func newMapEmitter(tb testing.TB, perf *ebpf.Map, size int) *emitter {
	tb.Helper()
	src, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "perfring_src",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  uint32(size),
		MaxEntries: 1,
	})
	if err != nil {
		tb.Fatalf("create per-CPU source map: %v", err)
	}
	tb.Cleanup(func() { src.Close() })
	values := make([][]byte, ebpf.MustPossibleCPU())
	for cpu := range values {
		values[cpu] = mapPattern(cpu, size)
	}
	if err := src.Put(uint32(0), values); err != nil {
		tb.Fatalf("fill per-CPU source map: %v", err)
	}

	e := &emitter{size: size, src: src}
	fill := asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, src.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "found"),
		asm.Mov.Imm(asm.R0, -int32(unix.ENOENT)),
		asm.Return(),
		asm.Mov.Reg(asm.R9, asm.R0).WithSymbol("found"),
	}
	stamp := asm.Instructions{
		asm.StoreMem(asm.R9, 0, asm.R0, asm.Word),
		asm.StoreMem(asm.R9, 4, asm.R8, asm.Word),
	}
	data := asm.Instructions{asm.Mov.Reg(asm.R4, asm.R9)}
	e.prog = loadEmitter(tb, perf, size, fill, stamp, data)
	return e
}

func mapPattern(cpu, size int) []byte {
	p := make([]byte, size)
	for i := 8; i < size; i++ {
		p[i] = byte(i*31 + cpu)
	}
	return p
}

// loadEmitter assembles the loop around the data-source specific parts:
// setup runs once, stamp writes R0 (CPU id) and R8 (sequence) into the
// sample, data points R4 at it.
func loadEmitter(tb testing.TB, perf *ebpf.Map, size int, setup, stamp, data asm.Instructions) *ebpf.Program {
	tb.Helper()
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),               // ctx
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord), // count = ctx[0]
		asm.JLE.Imm(asm.R7, maxEmit, "clamped"),
		asm.Mov.Imm(asm.R7, maxEmit),
		asm.JNE.Imm(asm.R7, 0, "counted").WithSymbol("clamped"),
		asm.Mov.Imm(asm.R7, 1),
		asm.Mov.Imm(asm.R8, 0).WithSymbol("counted"), // sequence
	}
	insns = append(insns, setup...)
	insns = append(insns, asm.FnGetSmpProcessorId.Call().WithSymbol("loop"))
	insns = append(insns, stamp...)
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, perf.FD()),
		asm.LoadImm(asm.R3, unix.BPF_F_CURRENT_CPU, asm.DWord),
	)
	insns = append(insns, data...)
	insns = append(insns,
		asm.Mov.Imm(asm.R5, int32(size)),
		asm.FnPerfEventOutput.Call(),
		asm.JSLT.Imm(asm.R0, 0, "out"),
		asm.Add.Imm(asm.R8, 1),
		asm.JLT.Reg(asm.R8, asm.R7, "loop"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return().WithSymbol("out"),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "perfring_emit",
		Type:         ebpf.RawTracepoint,
		License:      "GPL",
		Instructions: insns,
	})
	if err != nil {
		tb.Fatalf("load emitter program: %v", err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// emit runs the program on cpu, asking for count samples, and returns the
// program's return value: 0, or the negative errno of the first failed
// bpf_perf_event_output.
func (e *emitter) emit(tb testing.TB, cpu, count int) int32 {
	tb.Helper()
	ctx := make([]byte, 8)
	binary.NativeEndian.PutUint64(ctx, uint64(count))
	ret, err := e.prog.Run(&ebpf.RunOptions{
		CPU:     uint32(cpu),
		Flags:   unix.BPF_F_TEST_RUN_ON_CPU,
		Context: ctx,
	})
	if err != nil {
		tb.Fatalf("run emitter on CPU %d: %v", cpu, err)
	}
	return int32(ret)
}

// payload is the sample sequence number seq from cpu as the program writes
// it, without the kernel's padding.
func (e *emitter) payload(cpu, seq int) []byte {
	var p []byte
	if e.src != nil {
		p = mapPattern(cpu, e.size)
	} else {
		p = make([]byte, e.size)
		for i := 1; i < e.size/8; i++ {
			binary.NativeEndian.PutUint64(p[8*i:], uint64(i))
		}
	}
	binary.NativeEndian.PutUint32(p[0:], uint32(cpu))
	binary.NativeEndian.PutUint32(p[4:], uint32(seq))
	return p
}

// rawLen is the RawSample length the kernel reports for size bytes: the u32
// size field plus the data, padded to 8 bytes, minus the size field.
func rawLen(size int) int { return (size+4+7)&^7 - 4 }

// checkSample fails unless raw is sample seq from cpu.
func (e *emitter) checkSample(tb testing.TB, raw []byte, cpu, seq int) {
	tb.Helper()
	if len(raw) != rawLen(e.size) {
		tb.Fatalf("CPU %d sample %d: %d raw bytes, want %d", cpu, seq, len(raw), rawLen(e.size))
	}
	if want := e.payload(cpu, seq); !bytes.Equal(raw[:e.size], want) {
		tb.Fatalf("CPU %d sample %d: got % x..., want % x...", cpu, seq, head(raw[:e.size]), head(want))
	}
}

func head(p []byte) []byte { return p[:min(len(p), 24)] }

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: perf_event_open of CPU-wide events and BPF programs")
	}
}

func onlineCPUs(tb testing.TB) []int {
	tb.Helper()
	online, err := topology.ReadOnline(topology.DefaultSysfsRoot)
	if err != nil {
		tb.Fatal(err)
	}
	return online.CPUs()
}

// newPerfArray creates a perf event array sized for every possible CPU.
func newPerfArray(tb testing.TB) *ebpf.Map {
	tb.Helper()
	possible, err := topology.ReadPossible(topology.DefaultSysfsRoot)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "perfring_test",
		Type:       ebpf.PerfEventArray,
		MaxEntries: topology.PerfArraySize(possible),
	})
	if err != nil {
		tb.Fatalf("create perf event array: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// emitterCases are the sample sizes and sources every read path is tested
// with: small and large stack samples, and a 4 KiB per-CPU map value.
var emitterCases = []struct {
	name string
	size int
	new  func(testing.TB, *ebpf.Map, int) *emitter
}{
	{"stack 8 bytes", 8, newStackEmitter},
	{"stack 512 bytes", 512, newStackEmitter},
	{"map 4096 bytes", 4096, newMapEmitter},
}
