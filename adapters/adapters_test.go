package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	for _, tc := range []struct{ given, name string }{
		{"reference", "reference"},
		{"cilium-ebpf", "cilium-ebpf@" + adapters.CiliumDefault},
		{"cilium-ebpf@v0.12.3", "cilium-ebpf@v0.12.3"},
		{"cilium-ebpf@0.12.3", "cilium-ebpf@v0.12.3"},
		{"libbpf", "libbpf@1.1"},
		{"libbpf@1.4", "libbpf@1.4"},
		{"libbpf@1.5", "libbpf@1.5"},
		{"libbpf-rs", "libbpf-rs"},
		{"bcc", "bcc"},
		{"bpftool", "bpftool@7.1"},
		{"bpftool@7.5", "bpftool@7.5"},
		{"libbpfgo", "libbpfgo"},
		{"aya", "aya"},
	} {
		a, err := adapters.Get(tc.given)
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != tc.name {
			t.Errorf("Get(%q) = %s, want %s", tc.given, a.Name, tc.name)
		}
		vmExe := "/b/" + tc.name
		if tc.name == "bcc" {
			vmExe = "/b/vm/bcc" // the program that enters bcc's image (below)
		}
		if a.Path("/bin/x") != "/bin/x/"+tc.name || a.VMExecutables("/b")[0] != vmExe {
			t.Errorf("%s: Path/VMExecutables = %s, %v", tc.given, a.Path("/bin/x"), a.VMExecutables("/b"))
		}
	}
	if a, _ := adapters.Get("bpftool"); !slices.Equal(a.VMExecutables("/b"), []string{"/b/bpftool@7.1", "/usr/sbin/bpftool"}) {
		t.Errorf("bpftool needs its wrapper and /usr/sbin/bpftool in a VM, got %v", a.VMExecutables("/b"))
	}
	if a, _ := adapters.Get("bpftool@7.5"); len(a.VMExecutables("/b")) != 2 || !strings.HasPrefix(a.VMExecutables("/b")[1], adapters.BackportsDir()+"/") {
		t.Errorf("bpftool@7.5 needs its wrapper and the bpftool unpacked under %s in a VM, got %v", adapters.BackportsDir(), a.VMExecutables("/b"))
	}
	// bcc runs in amd64 VMs from its image, through a static program that
	// enters it (not the host's launcher script); arm64 VMs have no image.
	if a, _ := adapters.Get("bcc"); !slices.Equal(a.VMExecutables("/b"), []string{"/b/vm/bcc"}) ||
		!errors.Is(a.AvailableFor("arm64"), adapters.ErrUnavailable) || !strings.Contains(a.AvailableFor("arm64").Error(), "arm64 packages") {
		t.Errorf("bcc: VMExecutables %v, AvailableFor(arm64) %v", a.VMExecutables("/b"), a.AvailableFor("arm64"))
	}
	if a, _ := adapters.Get("aya"); !a.Static || len(a.VMExecutables("/b")) != 1 {
		t.Errorf("aya is linked statically and needs nothing else in a VM, got Static %v, %v", a.Static, a.VMExecutables("/b"))
	}
	for _, name := range []string{"bpftrace", "aya@0.12", "libbpf@9.9", "cilium-ebpf@v0.1.0"} {
		if _, err := adapters.Get(name); !errors.Is(err, adapters.ErrUnknownAdapter) {
			t.Errorf("Get(%s) = %v, want ErrUnknownAdapter", name, err)
		}
	}
	if _, err := adapters.Get("libbpf@9.9"); err == nil || !strings.Contains(err.Error(), "libbpf@1.4") {
		t.Errorf("Get(libbpf@9.9) should list the versions built in: %v", err)
	}
	if _, err := adapters.Build(context.Background(), t.TempDir(), "bpftrace"); !errors.Is(err, adapters.ErrUnknownAdapter) {
		t.Errorf("Build(bpftrace) = %v, want ErrUnknownAdapter", err)
	}
	// Every name is unique and every versioned loader has exactly one default.
	names, defaults := map[string]bool{}, map[string]int{}
	for _, a := range adapters.All() {
		if names[a.Name] {
			t.Errorf("two adapters named %s", a.Name)
		}
		names[a.Name] = true
		if a.Default {
			defaults[a.Base()]++
		}
		if a.Version() == "" && a.Default {
			t.Errorf("%s: only a versioned adapter can be a default", a.Name)
		}
	}
	for _, a := range adapters.All() {
		if a.Version() != "" && defaults[a.Base()] != 1 {
			t.Errorf("%s: %d defaults among its versions, want 1", a.Base(), defaults[a.Base()])
		}
	}
}

// TestCiliumVersionsPinned: the default cilium/ebpf release is go.mod's, and
// every other release's modfile requires exactly that release.
func TestCiliumVersionsPinned(t *testing.T) {
	for _, v := range adapters.CiliumVersions {
		mod := "../go.mod"
		if v != adapters.CiliumDefault {
			mod = filepath.Join("cilium-ebpf", "versions", v+".mod")
		}
		b, err := os.ReadFile(mod)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\tgithub.com/cilium/ebpf "+v+"\n") {
			t.Errorf("%s does not require github.com/cilium/ebpf %s", mod, v)
		}
		if _, err := os.Stat(strings.TrimSuffix(mod, ".mod") + ".sum"); v != adapters.CiliumDefault && err != nil {
			t.Errorf("%s has no go.sum beside it: %v", mod, err)
		}
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
	for _, a := range adapters.All() {
		if a.Base() == "reference" {
			continue // in-process in the suite; its adapter (serve.Main(refadapter.New())) is judged against it in adapters/serve's TestSuite
		}
		name := a.Name
		t.Run(name, func(t *testing.T) {
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
			// The adapter names itself after the library it linked or runs,
			// so this also checks that each entry got the version it names.
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
			checkPinnedEvents(t, dir, tc.maxEntries, tc.fire)
		})
	}
}

// TestAffinityCountShowsUnderRestriction: the affinitycount control sizes
// auto-sized arrays by its affinity, so it is right where it may run on
// every CPU (this process's affinity here: two or more CPUs numbered from 0)
// and one slot short per CPU it may not use once the session wrapper
// restricts it to CPU 0 (process.WithCPUs): output on CPU 1 then finds no
// slot (E2BIG).
func TestAffinityCountShowsUnderRestriction(t *testing.T) {
	possible, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	var aff unix.CPUSet
	if err := unix.SchedGetaffinity(0, &aff); err != nil {
		t.Fatal(err)
	}
	if aff.Count() != possible || len(onlineCPUs(t)) < 2 {
		t.Skip("needs two online CPUs and an affinity of every possible CPU")
	}
	bins, err := adapters.BuildTestdata(context.Background(), binDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		opts       []process.Option
		maxEntries uint32
		fire       map[int]unix.Errno
	}{
		{"every CPU", nil, uint32(possible), map[int]unix.Errno{0: 0, 1: 0}},
		{"restricted to CPU 0", []process.Option{process.WithCPUs("0", "")}, 1, map[int]unix.Errno{0: 0, 1: unix.E2BIG}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := pinDir(t)
			s, err := process.New(bins["affinitycount"], tc.opts...).Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: dir, Pages: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkPinnedEvents(t, dir, tc.maxEntries, tc.fire)
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

// checkPinnedEvents checks the perf array pinned as dir/events: its
// max_entries, and what bpf_perf_event_output returns on each CPU of fire
// (0: a live ring took the sample).
func checkPinnedEvents(t *testing.T, dir string, wantMax uint32, fire map[int]unix.Errno) {
	t.Helper()
	m := pinnedMap(t, filepath.Join(dir, "events"))
	if got := maxEntries(t, m); got != wantMax {
		t.Errorf("max_entries = %d, want %d", got, wantMax)
	}
	if len(fire) == 0 {
		return
	}
	tr, err := trigger.New(m)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for cpu, want := range fire {
		err := tr.Fire(cpu)
		if want == 0 && err != nil || want != 0 && !errors.Is(err, want) {
			t.Errorf("CPU %d: Fire = %v, want errno %v", cpu, err, want)
		}
	}
}
