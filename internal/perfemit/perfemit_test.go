package perfemit_test

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/perfemit"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
)

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  perfemit.Config
	}{
		{"zero size", perfemit.Config{Size: 0}},
		{"not a multiple of 8", perfemit.Config{Size: 12}},
		{"stack too small", perfemit.Config{Size: 520}},
		{"stack too small for the counter", perfemit.Config{Size: 512, Mode: perfemit.CountAccepted}},
		{"unknown source", perfemit.Config{Size: 8, Source: 7}},
		{"unknown mode", perfemit.Config{Size: 8, Mode: 7}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The config is checked before the map is looked at.
			if _, err := perfemit.New(nil, tt.cfg); !errors.Is(err, perfemit.ErrConfig) {
				t.Fatalf("New(%+v) = %v, want ErrConfig", tt.cfg, err)
			}
		})
	}
}

func TestRawLen(t *testing.T) {
	for size, want := range map[int]int{8: 12, 16: 20, 256: 260, 4096: 4100} {
		if got := perfemit.RawLen(size); got != want {
			t.Errorf("RawLen(%d) = %d, want %d", size, got, want)
		}
	}
}

// TestModes runs every (source, mode, stamp) combination against a ring on
// one CPU and against a CPU without a ring, and reads back what was written.
func TestModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: BPF programs and perf rings")
	}
	online, err := topology.ReadOnline(topology.DefaultSysfsRoot)
	if err != nil {
		t.Fatal(err)
	}
	cpu := online.CPUs()[0]
	for _, tt := range []struct {
		name  string
		cfg   perfemit.Config
		count int
		// want: what a run of count returns with room in the ring, and
		// with no ring at the CPU's key.
		wantRoom, wantNoRing int32
	}{
		{"stack stop stamped", perfemit.Config{Size: 16, Stamp: true}, 5, 0, -int32(unix.ENOENT)},
		{"stack count", perfemit.Config{Size: 16, Mode: perfemit.CountAccepted}, 5, 5, 0},
		{"stack count clamped", perfemit.Config{Size: 8, Mode: perfemit.CountAccepted}, 5000, perfemit.MaxBatch, 0},
		{"map stop stamped", perfemit.Config{Size: 4096, Source: perfemit.PerCPUMap, Stamp: true}, 3, 0, -int32(unix.ENOENT)},
		{"map count", perfemit.Config{Size: 1024, Source: perfemit.PerCPUMap, Mode: perfemit.CountAccepted}, 3, 3, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			possible, err := topology.ReadPossible(topology.DefaultSysfsRoot)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerfEventArray, MaxEntries: topology.PerfArraySize(possible)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			e, err := perfemit.New(m, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()

			if got, err := e.Run(cpu, tt.count); err != nil || got != tt.wantNoRing {
				t.Fatalf("no ring: Run = %d, %v; want %d", got, err, tt.wantNoRing)
			}
			rd, err := perfring.New(m, []int{cpu}, perfring.Options{Pages: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if got, err := e.Run(cpu, tt.count); err != nil || got != tt.wantRoom {
				t.Fatalf("with a ring: Run = %d, %v; want %d", got, err, tt.wantRoom)
			}
			n := min(tt.count, perfemit.MaxBatch)
			rd.SetDeadline(time.Now().Add(10 * time.Second))
			var rec perfring.Record
			for seq := range n {
				if err := rd.ReadInto(&rec); err != nil {
					t.Fatalf("sample %d: %v", seq, err)
				}
				if len(rec.RawSample) != perfemit.RawLen(tt.cfg.Size) {
					t.Fatalf("sample %d: %d raw bytes, want %d", seq, len(rec.RawSample), perfemit.RawLen(tt.cfg.Size))
				}
				if want := e.Payload(cpu, seq); !bytes.Equal(rec.RawSample[:tt.cfg.Size], want) {
					t.Fatalf("sample %d: got % x, want % x", seq, rec.RawSample[:16], want[:16])
				}
			}
			rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
			if err := rd.ReadInto(&rec); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %d samples: %v, want no more", n, err)
			}
		})
	}
}
