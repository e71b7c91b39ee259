// Package trigger makes the kernel write one perf sample on a chosen CPU into a
// perf event array, independent of any loader: a tiny raw_tracepoint program
// calls bpf_perf_event_output(ctx, array, BPF_F_CURRENT_CPU, ...) and is run
// with BPF_PROG_TEST_RUN pinned to that CPU (BPF_F_TEST_RUN_ON_CPU).
//
// The helper's return value comes back as the program's return value, so a
// failed write is reported with the kernel's errno: ENOENT (no ring filed at
// that CPU's key), EOPNOTSUPP (the ring filed at that key belongs to another
// CPU), E2BIG (the array is smaller than the CPU id).
//
// The suite owns it: it is the oracle that proves a ring is live on a CPU.
package trigger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// ErrOutput means bpf_perf_event_output returned an error on the CPU.
var ErrOutput = errors.New("bpf_perf_event_output failed")

// PayloadSize is the size of every sample a Trigger writes.
const PayloadSize = 16

// marker is "pctr" little-endian: tells trigger samples from fixture samples.
const marker = 0x72746370

// Trigger writes samples carrying a per-Trigger nonce into one perf event array.
type Trigger struct {
	prog  *ebpf.Program
	name  string
	nonce uint64
}

// New loads the trigger program for perfArray. The map is only referenced by
// the program; closing the Trigger does not close perfArray.
func New(perfArray *ebpf.Map) (*Trigger, error) {
	name := mapName(perfArray)
	if perfArray.Type() != ebpf.PerfEventArray {
		return nil, fmt.Errorf("trigger for map %s: type %s, want PerfEventArray", name, perfArray.Type())
	}
	// The nonce only tells this Trigger's samples from others', so it needs
	// no cryptographic strength, and it must not block: crypto/rand waits
	// in getrandom(2) until the kernel's CRNG is initialised, which in a
	// freshly booted TCG guest took 1.7 s (docs/PERFORMANCE.md). math/rand/v2
	// is seeded from the runtime's own non-blocking source.
	nonce := rand.Uint64()

	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -16, marker, asm.Word),
		asm.FnGetSmpProcessorId.Call(),
		asm.StoreMem(asm.RFP, -12, asm.R0, asm.Word),
		asm.LoadImm(asm.R1, int64(nonce), asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, perfArray.FD()),
		asm.LoadImm(asm.R3, 0xffffffff, asm.DWord), // BPF_F_CURRENT_CPU
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, -16),
		asm.Mov.Imm(asm.R5, PayloadSize),
		asm.FnPerfEventOutput.Call(),
		asm.Return(), // r0 is the helper's result
	}
	// Before 5.11 the program is charged to RLIMIT_MEMLOCK, which loaders
	// under test may have used up: the oracle must not depend on it.
	if err := bpfsys.RaiseMemlock(); err != nil {
		return nil, fmt.Errorf("trigger for map %s: %w", name, err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "pcf_trigger",
		Type:         ebpf.RawTracepoint,
		License:      "GPL", // bpf_perf_event_output is GPL-only
		Instructions: insns,
	})
	if err != nil {
		return nil, fmt.Errorf("trigger for map %s: load program: %w", name, err)
	}
	return &Trigger{prog: prog, name: name, nonce: nonce}, nil
}

// Fire runs the program once on cpu. A nil error means the kernel accepted the
// sample into the ring filed at key cpu; it says nothing about a reader.
func (t *Trigger) Fire(cpu int) error {
	ret, err := t.prog.Run(&ebpf.RunOptions{
		CPU:     uint32(cpu),
		Flags:   unix.BPF_F_TEST_RUN_ON_CPU,
		Context: make([]byte, 8),
	})
	if err != nil {
		return fmt.Errorf("trigger for map %s: run on CPU %d: %w", t.name, cpu, err)
	}
	if r := int32(ret); r < 0 {
		return fmt.Errorf("%w: map %s, CPU %d: %w", ErrOutput, t.name, cpu, unix.Errno(-r))
	}
	return nil
}

// Match reports whether data is a sample written by this Trigger and, if so,
// the CPU the kernel ran the program on (bpf_get_smp_processor_id). Readers may
// deliver up to 7 bytes of trailing padding; they are ignored.
func (t *Trigger) Match(data []byte) (cpu int, ok bool) {
	if len(data) < PayloadSize {
		return 0, false
	}
	var want [8]byte
	binary.LittleEndian.PutUint64(want[:], t.nonce)
	if binary.LittleEndian.Uint32(data[0:4]) != marker || !bytes.Equal(data[8:16], want[:]) {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(data[4:8])), true
}

// Close unloads the program.
func (t *Trigger) Close() error { return t.prog.Close() }

func mapName(m *ebpf.Map) string {
	if info, err := m.Info(); err == nil && info.Name != "" {
		return info.Name
	}
	return m.String()
}
