package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/suite/trigger"
)

var binDir string

func TestMain(m *testing.M) {
	process.MaybeRunNamespaceWrapper()
	var err error
	binDir, err = os.MkdirTemp("", "adapters-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

func object(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/perf_simple.o")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pinDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/sys/fs/bpf", "adapters-test")
	if err != nil {
		t.Skipf("need a bpffs at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf): %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func pinnedMap(t *testing.T, path string) *ebpf.Map {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatalf("map not pinned: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func maxEntries(t *testing.T, m *ebpf.Map) uint32 {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.MaxEntries
}

// awaitSample waits for tr's sample in events and returns the event.
func awaitSample(events <-chan protocol.Event, tr *trigger.Trigger) (protocol.Event, int, error) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ev, 0, errors.New("session ended before the sample arrived")
			}
			if ev.Event != protocol.EventSample {
				continue
			}
			if cpu, ok := tr.Match(ev.Data); ok {
				return ev, cpu, nil
			}
		case <-timeout:
			return protocol.Event{}, 0, errors.New("no sample within 10s")
		}
	}
}

func TestRegistry(t *testing.T) {
	for _, name := range []string{"reference", "cilium-ebpf", "libbpf", "bpftool", "libbpfgo"} {
		a, err := adapters.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if a.Path("/bin/x") != "/bin/x/"+name || a.VMExecutables("/b")[0] != "/b/"+name {
			t.Errorf("%s: Path/VMExecutables = %s, %v", name, a.Path("/bin/x"), a.VMExecutables("/b"))
		}
	}
	if a, _ := adapters.Get("bpftool"); len(a.VMExecutables("/b")) != 2 {
		t.Errorf("bpftool needs its wrapper and /usr/sbin/bpftool in a VM, got %v", a.VMExecutables("/b"))
	}
	if _, err := adapters.Get("aya"); !errors.Is(err, adapters.ErrUnknownAdapter) {
		t.Errorf("Get(aya) = %v, want ErrUnknownAdapter", err)
	}
	if _, err := adapters.Build(context.Background(), t.TempDir(), "aya"); !errors.Is(err, adapters.ErrUnknownAdapter) {
		t.Errorf("Build(aya) = %v, want ErrUnknownAdapter", err)
	}
}

// TestRealAdapters: each adapter that builds here reports its info, loads a
// perf object with the array sized to the possible CPUs, pins it, and
// delivers a sample triggered on each online CPU attributed to that CPU.
func TestRealAdapters(t *testing.T) {
	possible, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	online := onlineCPUs(t)
	for _, name := range []string{"cilium-ebpf", "libbpf", "bpftool", "libbpfgo"} {
		t.Run(name, func(t *testing.T) {
			a, _ := adapters.Get(name)
			if err := a.Available(); err != nil {
				t.Skip(err)
			}
			if name == "libbpfgo" {
				requireMemlock(t, libbpfgoMemlock)
			}
			path, err := a.Build(context.Background(), binDir)
			if err != nil {
				t.Fatal(err)
			}
			l := process.New(path)
			ctx := context.Background()
			info, err := l.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Loader != name || info.Version == "" || !info.Has(protocol.CapPinning) {
				t.Errorf("info = %+v", info)
			}
			dir := pinDir(t)
			s, err := l.Load(ctx, suite.LoadRequest{Object: object(t), PinDir: dir, Pages: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			m := pinnedMap(t, filepath.Join(dir, "events"))
			if got := maxEntries(t, m); got != uint32(possible) {
				t.Errorf("events max_entries = %d, want %d possible CPUs", got, possible)
			}
			tr, err := trigger.New(m)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for _, cpu := range online {
				if err := tr.Fire(cpu); err != nil {
					t.Fatalf("CPU %d: %v", cpu, err)
				}
				ev, ran, err := awaitSample(s.Events(), tr)
				if err != nil {
					t.Fatalf("CPU %d: %v", cpu, err)
				}
				// Readers that do not say the CPU (libbpfgo) report -1,
				// which protocol 1.1 allows.
				attributed := ev.CPU == cpu || ev.CPU == protocol.CPUUnknown && info.Minor >= protocol.MinorCPUUnknownSamples
				if ev.Map != "events" || !attributed || ran != cpu {
					t.Errorf("fired on CPU %d: sample from map %q attributed to CPU %d, program ran on CPU %d", cpu, ev.Map, ev.CPU, ran)
				}
			}
		})
	}
}

// TestWrongLoadersShowHere: the wrong loaders' faults are visible through
// the protocol path on this host (needs at least 2 CPUs).
func TestWrongLoadersShowHere(t *testing.T) {
	possible, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	if len(onlineCPUs(t)) < 2 {
		t.Skip("needs two online CPUs")
	}
	bins, err := adapters.BuildTestdata(context.Background(), binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		maxEntries  uint32
		readerError bool               // the reader itself fails (maps stay pinned)
		fire        map[int]unix.Errno // CPU -> errno of bpf_perf_event_output
	}{
		{name: "hardcode32", maxEntries: 32, readerError: possible < 32},
		{name: "sizeone", maxEntries: 1, fire: map[int]unix.Errno{0: 0, 1: unix.E2BIG}},
		{name: "keyplus1", maxEntries: uint32(possible + 1), fire: map[int]unix.Errno{0: unix.ENOENT, 1: unix.EOPNOTSUPP}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := pinDir(t)
			s, err := process.New(bins[tc.name]).Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: dir, Pages: 1})
			if tc.readerError {
				if le := suite.AsLoadError(err); le == nil || le.Stage != protocol.StageReader {
					t.Fatalf("Load = %v, want a reader-stage LoadError", err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				defer s.Close()
			}
			m := pinnedMap(t, filepath.Join(dir, "events"))
			if got := maxEntries(t, m); got != tc.maxEntries {
				t.Errorf("max_entries = %d, want %d", got, tc.maxEntries)
			}
			if tc.fire == nil {
				return
			}
			tr, err := trigger.New(m)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for cpu, want := range tc.fire {
				err := tr.Fire(cpu)
				if want == 0 && err != nil || want != 0 && !errors.Is(err, want) {
					t.Errorf("CPU %d: Fire = %v, want errno %v", cpu, err, want)
				}
			}
		})
	}
}

// libbpfgoMemlock is the RLIMIT_MEMLOCK libbpfgo v0.4.6 sets in
// NewModuleFromFile before anything else; it fails the load when it cannot.
const libbpfgoMemlock = 512 << 20

// requireMemlock skips the test unless this process may raise its
// RLIMIT_MEMLOCK to n bytes (and does so, so adapters inherit it). Without
// CAP_SYS_RESOURCE a hard limit below n cannot be raised.
func requireMemlock(t *testing.T, n uint64) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max != unix.RLIM_INFINITY && lim.Max < n {
		if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			t.Skipf("RLIMIT_MEMLOCK hard limit is %d bytes and cannot be raised to %d here (%v): libbpfgo sets %d on every load and fails without it",
				lim.Max, n, err, n)
		}
	}
}

func onlineCPUs(t *testing.T) []int {
	t.Helper()
	raw, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	var cpus []int
	var lo, hi int
	for _, part := range splitComma(string(raw)) {
		if n, _ := fmt.Sscanf(part, "%d-%d", &lo, &hi); n == 2 {
			for c := lo; c <= hi; c++ {
				cpus = append(cpus, c)
			}
		} else if n, _ := fmt.Sscanf(part, "%d", &lo); n == 1 {
			cpus = append(cpus, lo)
		}
	}
	return cpus
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' || s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
