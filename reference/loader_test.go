package reference_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	bpffixtures "github.com/perfconform/perfconform/fixtures/bpf"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/reference/topology/topologytest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating BPF maps needs root")
	}
}

// fixtures writes the committed objects once per test.
func fixtures(t *testing.T) map[string]string {
	t.Helper()
	paths, err := bpffixtures.WriteAll(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// The kernel accepts any max_entries for a perf event array, so sizing for a
// topology this machine does not have is checked against the kernel's own
// view of the created map.
func TestSizingOnFakeTopologies(t *testing.T) {
	needRoot(t)
	paths := fixtures(t)
	longPossible := "0-511"
	var sparse []string
	for c := 0; c < 512; c += 3 {
		sparse = append(sparse, strconv.Itoa(c))
	}
	tests := []struct {
		name                      string
		possible, present, online string
		wantAuto                  uint32
		wantRings                 string
	}{
		{"one CPU", "0", "0", "0", 1, "0"},
		{"contiguous", "0-3", "0-3", "0-3", 4, "0-3"},
		{"gapped possible needs highest id + 1, not the count", "0-1,4-5", "0-1,4-5", "0-1,4-5", 6, "0-1,4-5"},
		{"sparse online keeps CPU ids", "0-3", "0-3", "0,2-3", 4, "0,2-3"},
		{"possible > present > online", "0-7", "0-3", "0-1", 8, "0-1"},
		{"long online list", longPossible, longPossible, strings.Join(sparse, ","), 512, strings.Join(sparse, ",")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := topologytest.Sysfs(t, topologytest.Masks{Possible: tt.possible, Present: tt.present, Online: tt.online})
			for _, fx := range []struct {
				name string
				maps []string
				want uint32
			}{
				{"perf_auto_kv", []string{"events"}, tt.wantAuto},
				{"perf_auto", []string{"events"}, tt.wantAuto},
				{"perf_legacy", []string{"events"}, tt.wantAuto},
				{"perf_multi", []string{"events_a", "events_b"}, tt.wantAuto},
				{"perf_explicit_1", []string{"events"}, 1},
				{"perf_explicit_128", []string{"events"}, 128},
			} {
				coll, err := reference.Load(paths[fx.name], reference.WithSysfsRoot(root))
				if err != nil {
					t.Fatalf("%s: %v", fx.name, err)
				}
				for _, name := range fx.maps {
					info, err := coll.Maps[name].Info()
					if err != nil {
						t.Fatal(err)
					}
					if info.MaxEntries != fx.want || info.KeySize != 4 || info.ValueSize != 4 {
						t.Errorf("%s map %s: kernel says max_entries %d key/value %d/%d, want %d 4/4",
							fx.name, name, info.MaxEntries, info.KeySize, info.ValueSize, fx.want)
					}
				}
				if fx.name == "perf_auto_kv" {
					cpus, err := coll.RingCPUs("events")
					if err != nil {
						t.Fatal(err)
					}
					if got := topology.CPUSetOf(cpus...).String(); got != tt.wantRings {
						t.Errorf("ring CPUs %s, want %s", got, tt.wantRings)
					}
				}
				if len(coll.Programs) != 1 {
					t.Errorf("%s: %d programs loaded, want 1", fx.name, len(coll.Programs))
				}
				coll.Close()
			}
		})
	}
}

func TestCPUDetectionFailures(t *testing.T) {
	needRoot(t)
	paths := fixtures(t)
	tests := []struct {
		name     string
		possible string
		mention  string
	}{
		{"missing possible file", "", "possible: no such file"},
		{"garbage possible file", "garbage", `"garbage"`},
		{"descending range", "3-1", `"3-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			possible := tt.possible
			if possible == "" {
				possible = topologytest.Missing
			}
			root := topologytest.Sysfs(t, topologytest.Masks{Possible: possible, Present: "0", Online: "0"})
			_, err := reference.Load(paths["perf_auto_kv"], reference.WithSysfsRoot(root))
			if !errors.Is(err, topology.ErrCPUDetection) {
				t.Fatalf("Load: %v, want an error wrapping ErrCPUDetection", err)
			}
			for _, want := range []string{tt.mention, "WithPossibleCPUs", "perf_auto_kv.o"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			// The declared fallback.
			coll, err := reference.Load(paths["perf_auto_kv"], reference.WithSysfsRoot(root), reference.WithPossibleCPUs(3))
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			if got := coll.Maps["events"].MaxEntries(); got != 3 {
				t.Errorf("WithPossibleCPUs(3): max_entries %d", got)
			}
		})
	}
	// An object without perf arrays never reads the masks.
	t.Run("no perf array, no detection", func(t *testing.T) {
		spec, err := ebpf.LoadCollectionSpec(paths["perf_multi"])
		if err != nil {
			t.Fatal(err)
		}
		for name, ms := range spec.Maps {
			if ms.Type == ebpf.PerfEventArray {
				delete(spec.Maps, name)
			}
		}
		spec.Programs = nil
		coll, err := reference.LoadSpec(spec, reference.WithSysfsRoot(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		coll.Close()
	})
}

func TestBadPerfArrayIsRefusedByName(t *testing.T) {
	needRoot(t)
	_, err := reference.Load(fixtures(t)["perf_badsize"])
	if !errors.Is(err, reference.ErrBadPerfMap) || !strings.Contains(err.Error(), "map events") || !strings.Contains(err.Error(), "value_size is 8") {
		t.Fatalf("Load(perf_badsize): %v", err)
	}
}

func bpffsDir(t *testing.T) string {
	t.Helper()
	if err := bpfsys.CheckBPFFS(bpfsys.BPFFSRoot); err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp(bpfsys.BPFFSRoot, "reftest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func pinPerfArray(t *testing.T, path string, entries uint32) {
	t.Helper()
	fd, err := bpfsys.CreateMap(bpfsys.MapCreate{Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4, MaxEntries: entries, Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMapFromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Pin(path); err != nil {
		t.Fatal(err)
	}
}

func TestPinnedMapReuse(t *testing.T) {
	needRoot(t)
	paths := fixtures(t)
	root := topologytest.Sysfs(t, topologytest.Masks{Possible: "0-3", Present: "0-3", Online: "0-1"})
	tests := []struct {
		name    string
		fixture string
		pinned  uint32
		reuse   bool
	}{
		{"larger pinned array serves an automatic one", "perf_auto_kv", 128, true},
		{"exact size", "perf_auto_kv", 4, true},
		{"too small leaves possible CPUs without a slot", "perf_auto_kv", 2, false},
		{"explicit size must match", "perf_explicit_32", 128, false},
		{"explicit size matches", "perf_explicit_32", 32, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := bpffsDir(t)
			pinPerfArray(t, filepath.Join(dir, "events"), tt.pinned)
			coll, err := reference.Load(paths[tt.fixture], reference.WithSysfsRoot(root), reference.WithPinDir(dir))
			if !tt.reuse {
				if !errors.Is(err, reference.ErrPinnedIncompatible) {
					t.Fatalf("Load: %v, want ErrPinnedIncompatible", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer coll.Close()
			if s := coll.PerfSizes[0]; !s.Reused || s.Actual != tt.pinned {
				t.Errorf("PerfSizes = %+v, want the pinned map reused", s)
			}
		})
	}
	t.Run("load pins, reload reuses", func(t *testing.T) {
		dir := bpffsDir(t)
		first, err := reference.Load(paths["perf_multi"], reference.WithSysfsRoot(root), reference.WithPinDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		first.Close()
		for _, name := range []string{"events_a", "events_b", "counts", "seen"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("map %s not pinned: %v", name, err)
			}
		}
		again, err := reference.Load(paths["perf_multi"], reference.WithSysfsRoot(root), reference.WithPinDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		for _, s := range again.PerfSizes {
			if !s.Reused {
				t.Errorf("%s not reused", s.Name)
			}
		}
	})
}
