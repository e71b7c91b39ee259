package perfring_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/internal/perfemit"
	"github.com/perfconform/perfconform/reference/topology"
)

// maxEmit bounds the samples one program run emits.
const maxEmit = perfemit.MaxBatch

// emitter is internal/perfemit's program in its test shape: every sample
// starts with the u32 id of the CPU that wrote it and a u32 sequence number
// within the run, the rest is perfemit's pattern (payload), and a run stops
// at the first failed bpf_perf_event_output and returns its negative errno.
type emitter struct {
	*perfemit.Emitter
	size int
}

func newEmitter(tb testing.TB, perf *ebpf.Map, size int, src perfemit.Source) *emitter {
	tb.Helper()
	e, err := perfemit.New(perf, perfemit.Config{Size: size, Source: src, Stamp: true, Mode: perfemit.StopAtFirstError})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return &emitter{Emitter: e, size: size}
}

// newStackEmitter emits size bytes (a multiple of 8, at most 512) from the
// stack.
func newStackEmitter(tb testing.TB, perf *ebpf.Map, size int) *emitter {
	return newEmitter(tb, perf, size, perfemit.Stack)
}

// newMapEmitter emits size bytes from the value of a per-CPU array, which
// lifts the 512-byte stack limit.
func newMapEmitter(tb testing.TB, perf *ebpf.Map, size int) *emitter {
	return newEmitter(tb, perf, size, perfemit.PerCPUMap)
}

// emit runs the program on cpu, asking for count samples, and returns the
// program's return value: 0, or the negative errno of the first failed
// bpf_perf_event_output.
func (e *emitter) emit(tb testing.TB, cpu, count int) int32 {
	tb.Helper()
	ret, err := e.Run(cpu, count)
	if err != nil {
		tb.Fatal(err)
	}
	return ret
}

// payload is the sample sequence number seq from cpu as the program writes
// it, without the kernel's padding.
func (e *emitter) payload(cpu, seq int) []byte { return e.Payload(cpu, seq) }

// rawLen is the RawSample length the kernel reports for size bytes.
func rawLen(size int) int { return perfemit.RawLen(size) }

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
