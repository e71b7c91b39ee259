package perfring_test

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
)

// A reader for every online CPU of a perf event array sized for the possible
// CPUs, and a program that writes 8 bytes into it on CPU 0. Needs root.
func Example() {
	possible, err := topology.ReadPossible(topology.DefaultSysfsRoot)
	if err != nil {
		panic(err)
	}
	online, err := topology.ReadOnline(topology.DefaultSysfsRoot)
	if err != nil {
		panic(err)
	}
	events, err := ebpf.NewMap(&ebpf.MapSpec{
		Type:       ebpf.PerfEventArray,
		MaxEntries: topology.PerfArraySize(possible),
	})
	if err != nil {
		panic(err)
	}
	defer events.Close()

	rd, err := perfring.New(events, online.CPUs(), perfring.Options{Pages: 8})
	if err != nil {
		panic(err)
	}
	defer rd.Close()

	// bpf_perf_event_output(ctx, events, BPF_F_CURRENT_CPU, &u64, 8)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.RawTracepoint,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.StoreImm(asm.RFP, -8, 42, asm.Word),
			asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMapPtr(asm.R2, events.FD()),
			asm.LoadImm(asm.R3, unix.BPF_F_CURRENT_CPU, asm.DWord),
			asm.Mov.Reg(asm.R4, asm.RFP),
			asm.Add.Imm(asm.R4, -8),
			asm.Mov.Imm(asm.R5, 8),
			asm.FnPerfEventOutput.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		panic(err)
	}
	defer prog.Close()
	ret, err := prog.Run(&ebpf.RunOptions{CPU: 0, Flags: unix.BPF_F_TEST_RUN_ON_CPU, Context: make([]byte, 8)})
	if err != nil || ret != 0 {
		panic(fmt.Sprint(ret, err))
	}

	rd.SetDeadline(time.Now().Add(5 * time.Second))
	var rec perfring.Record
	if err := rd.ReadInto(&rec); err != nil {
		panic(err)
	}
	// 8 bytes arrive as 12: the kernel pads the raw data and its u32 size
	// field to a multiple of 8.
	fmt.Printf("CPU %d: %d bytes, first %d, lost %d\n", rec.CPU, len(rec.RawSample), rec.RawSample[0], rec.LostSamples)
	// Output: CPU 0: 12 bytes, first 42, lost 0
}
