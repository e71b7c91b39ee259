package trigger

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// FloodSize is the size of every sample a Flood writes: more than the data
// area of a one-page ring (4096 bytes), so a ring opened with one page can
// never take one and the kernel refuses every write.
const FloodSize = 8192

// FloodWrites is how many samples one Flood.Fire writes back to back in a
// single program run: 16 x 8 KiB is twice the 16-page ring bpftool's
// event_pipe opens whatever it is asked for, so a ring that holds one flood
// sample still overflows before any reader can drain it.
const FloodWrites = 16

// floodMarker is "pcfl" little-endian: flood samples that do reach a reader
// (rings larger than one page) are never taken for trigger samples.
const floodMarker = 0x6c666370

// Flood makes the kernel drop records on a chosen CPU: it writes FloodWrites
// samples of FloodSize bytes from a map value and counts the writes the
// kernel refused for want of room (-ENOSPC). The kernel counts every refused
// write in the ring's lost counter and writes a PERF_RECORD_LOST with that
// count ahead of the next sample that fits, which is what a reader must
// report.
type Flood struct {
	prog *ebpf.Program
	data *ebpf.Map
	name string
}

// NewFlood loads the flood program for perfArray. Closing the Flood does not
// close perfArray.
func NewFlood(perfArray *ebpf.Map) (*Flood, error) {
	name := mapName(perfArray)
	if perfArray.Type() != ebpf.PerfEventArray {
		return nil, fmt.Errorf("flood for map %s: type %s, want PerfEventArray", name, perfArray.Type())
	}
	data, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pcf_flood", Type: ebpf.Array, KeySize: 4, ValueSize: FloodSize, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("flood for map %s: sample buffer: %w", name, err)
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1), // ctx
		asm.Mov.Imm(asm.R7, 0),      // writes refused with -ENOSPC
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, data.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, "have_value"),
		asm.Mov.Imm(asm.R0, -int32(unix.EFAULT)),
		asm.Return(),
		asm.Mov.Reg(asm.R8, asm.R0).WithSymbol("have_value"),
		asm.StoreImm(asm.R8, 0, floodMarker, asm.Word),
		asm.FnGetSmpProcessorId.Call(),
		asm.StoreMem(asm.R8, 4, asm.R0, asm.Word),
	}
	for i := range FloodWrites {
		next := fmt.Sprintf("next_%d", i)
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.LoadMapPtr(asm.R2, perfArray.FD()),
			asm.LoadImm(asm.R3, 0xffffffff, asm.DWord), // BPF_F_CURRENT_CPU
			asm.Mov.Reg(asm.R4, asm.R8),
			asm.Mov.Imm(asm.R5, FloodSize),
			asm.FnPerfEventOutput.Call(),
			asm.JEq.Imm(asm.R0, 0, next),
			asm.JNE.Imm(asm.R0, -int32(unix.ENOSPC), "fail"),
			asm.Add.Imm(asm.R7, 1),
			asm.Mov.Imm(asm.R0, 0).WithSymbol(next), // a jump target
		)
	}
	insns = append(insns,
		asm.Mov.Reg(asm.R0, asm.R7),
		asm.Return(),
		asm.Return().WithSymbol("fail"), // r0 is the helper's error
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "pcf_flood",
		Type:         ebpf.RawTracepoint,
		License:      "GPL",
		Instructions: insns,
	})
	if err != nil {
		data.Close()
		return nil, fmt.Errorf("flood for map %s: load program: %w", name, err)
	}
	return &Flood{prog: prog, data: data, name: name}, nil
}

// Fire runs the flood once on cpu and returns how many of its FloodWrites
// samples the kernel refused with -ENOSPC, each counted lost by the kernel.
// Any other refusal (no ring at the CPU's key, ...) is an error wrapping
// ErrOutput and the errno; writes after it were not attempted.
func (f *Flood) Fire(cpu int) (refused int, err error) {
	ret, err := f.prog.Run(&ebpf.RunOptions{
		CPU:     uint32(cpu),
		Flags:   unix.BPF_F_TEST_RUN_ON_CPU,
		Context: make([]byte, 8),
	})
	if err != nil {
		return 0, fmt.Errorf("flood for map %s: run on CPU %d: %w", f.name, cpu, err)
	}
	if r := int32(ret); r < 0 {
		return 0, fmt.Errorf("%w: flood for map %s, CPU %d: %w", ErrOutput, f.name, cpu, unix.Errno(-r))
	}
	return int(ret), nil
}

// Close unloads the program and its sample buffer.
func (f *Flood) Close() error {
	err := f.prog.Close()
	if cerr := f.data.Close(); err == nil {
		err = cerr
	}
	return err
}
