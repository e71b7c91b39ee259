package trigger_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/internal/trigger"
)

func newPerfArray(t *testing.T, entries uint32) *ebpf.Map {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "trig_test", Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: entries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestFireDeliversOnEachCPU(t *testing.T) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	m := newPerfArray(t, uint32(ncpu))
	rd, err := perf.NewReader(m, os.Getpagesize())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	tr, err := trigger.New(m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	for cpu := 0; cpu < ncpu; cpu++ {
		if err := tr.Fire(cpu); err != nil {
			t.Fatalf("Fire(%d): %v", cpu, err)
		}
		rd.SetDeadline(time.Now().Add(5 * time.Second))
		rec, err := rd.Read()
		if err != nil {
			t.Fatalf("CPU %d: read: %v", cpu, err)
		}
		got, ok := tr.Match(rec.RawSample)
		if !ok {
			t.Fatalf("CPU %d: sample %x not from this trigger", cpu, rec.RawSample)
		}
		if got != cpu || rec.CPU != cpu {
			t.Fatalf("fired on CPU %d: program saw CPU %d, ring of CPU %d", cpu, got, rec.CPU)
		}
	}
}

func TestFireReportsMissingRing(t *testing.T) {
	tr, err := trigger.New(newPerfArray(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.Fire(0)
	if !errors.Is(err, trigger.ErrOutput) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Fire(0) on an array without rings = %v, want ErrOutput wrapping ENOENT", err)
	}
}

func TestMatchRejectsForeignData(t *testing.T) {
	tr, err := trigger.New(newPerfArray(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, data := range [][]byte{nil, make([]byte, 15), make([]byte, 16), []byte("pctr\x00\x00\x00\x00abcdefgh")} {
		if _, ok := tr.Match(data); ok {
			t.Errorf("Match(%q) = true", data)
		}
	}
}
