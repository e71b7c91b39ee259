package trigger_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/suite/trigger"
)

// TestFloodLosesAndTheKernelSaysSo is the kernel behaviour RING-LOST rests
// on (docs/SPEC.md): a sample that cannot fit the ring is refused with
// -ENOSPC and counted lost, and the reader finds a PERF_RECORD_LOST with
// that count ahead of the next sample that fits, on the same CPU. Rings of
// one page refuse every flood write; rings of 16 pages (bpftool's) still
// refuse some.
func TestFloodLosesAndTheKernelSaysSo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loads BPF programs: run as root")
	}
	for _, tc := range []struct {
		pages       int
		refusedFrom int // at least this many of FloodWrites are refused
	}{
		{pages: 1, refusedFrom: trigger.FloodWrites},
		{pages: 16, refusedFrom: 1},
	} {
		m := perfArrayOfOne(t)
		rd, err := perfring.New(m, []int{0}, perfring.Options{Pages: tc.pages})
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		flood, err := trigger.NewFlood(m)
		if err != nil {
			t.Fatal(err)
		}
		defer flood.Close()
		tr, err := trigger.New(m)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()

		refused, err := flood.Fire(0)
		if err != nil {
			t.Fatal(err)
		}
		if refused < tc.refusedFrom || refused > trigger.FloodWrites {
			t.Fatalf("%d pages: %d of %d flood writes refused, want at least %d", tc.pages, refused, trigger.FloodWrites, tc.refusedFrom)
		}
		if err := tr.Fire(0); err != nil {
			t.Fatalf("%d pages: the sample after the flood: %v", tc.pages, err)
		}
		var lost uint64
		rd.SetDeadline(time.Now().Add(5 * time.Second))
		for {
			rec, err := rd.Read()
			if err != nil {
				t.Fatalf("%d pages: %v (lost so far %d)", tc.pages, err, lost)
			}
			lost += rec.LostSamples
			if _, ok := tr.Match(rec.RawSample); ok {
				break
			}
		}
		if lost != uint64(refused) {
			t.Errorf("%d pages: reader saw %d lost before the next sample, the kernel refused %d writes", tc.pages, lost, refused)
		}
		t.Logf("%d pages: %d of %d writes refused with ENOSPC, %d reported lost on CPU 0", tc.pages, refused, trigger.FloodWrites, lost)
	}
}

// TestFloodWithoutRing: a refusal other than ENOSPC is an error, not loss.
func TestFloodWithoutRing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loads BPF programs: run as root")
	}
	m := perfArrayOfOne(t)
	flood, err := trigger.NewFlood(m)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	if _, err := flood.Fire(0); !errors.Is(err, trigger.ErrOutput) || !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Fire without a ring = %v, want ErrOutput with ENOENT", err)
	}
}

// perfArrayOfOne is a perf event array with a slot for CPU 0 only.
func perfArrayOfOne(t *testing.T) *ebpf.Map {
	t.Helper()
	fd, err := bpfsys.CreateMap(bpfsys.MapCreate{Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4, MaxEntries: 1, Name: "flood_test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMapFromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
