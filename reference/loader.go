// Package reference is perfconform's reference loader: it loads BPF objects
// with automatic perf event array sizing done right on every CPU topology, and
// is the model the suite's requirements describe (docs/SPEC.md).
//
// The rules it implements:
//
//   - A perf event array declared with max_entries 0 gets highest possible CPU
//     id + 1 entries, so every possible CPU has a slot at its own id even when
//     the possible list has gaps ("0-1,4-5" needs 6).
//   - An explicit max_entries is kept exactly as declared, larger or smaller than
//     the CPU count. Clamping it (as cilium/ebpf does, issue 1744) breaks maps
//     pinned by libbpf or iproute2, whose size is the declared one.
//   - key_size and value_size 0 become 4; any other value but 4 is refused with
//     an error naming the map, since the kernel stores perf event fds as u32.
//   - The possible mask is read once per load. When it cannot be read the load
//     fails naming the file, unless the caller passes WithPossibleCPUs: a
//     silently wrong size is worse than no size.
//   - Readers open a ring for each online CPU below min(max_entries, highest
//     possible + 1) and file it under key = CPU id (see package perfring).
//   - Before Linux 5.11 the kernel charges BPF maps and programs to
//     RLIMIT_MEMLOCK (64 KiB by default there, shared by all of a user's
//     processes), so a load as root with the default limit fails with EPERM.
//     A load raises the process's RLIMIT_MEMLOCK to unlimited first, once per
//     process and never back, but only when the kernel charges BPF memory to
//     it: detected as libbpf does, by whether the kernel accepts
//     bpf_ktime_get_coarse_ns (merged in 5.11 with memory cgroup accounting).
//     On newer kernels the limit is left alone.
//
// ELF and BTF parsing, ordinary maps and program loading are cilium/ebpf's;
// perf event arrays are created here with BPF_MAP_CREATE (cilium/ebpf's own
// creation path rewrites them, also inside MapSpec.Compatible, so
// MapReplacements cannot carry them either), and program instructions are bound
// to the maps with asm.Instruction.AssociateMap before ebpf.NewProgram.
package reference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/hashicorp/go-multierror"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
)

// Name and Version identify the reference loader in results.
const (
	Name    = "reference"
	Version = "0.1.0"
)

var (
	// ErrBadPerfMap is wrapped when a perf event array declares a key or value
	// size other than 0 or 4.
	ErrBadPerfMap = errors.New("invalid perf event array")
	// ErrPinnedIncompatible is wrapped when a map pinned at the pin path cannot
	// serve the object's declaration.
	ErrPinnedIncompatible = errors.New("pinned map is incompatible")
	// ErrUnknownMap is wrapped when a map name is not in the collection.
	ErrUnknownMap = errors.New("no such map")
)

// Option configures a Load.
type Option func(*config)

type config struct {
	sysfsRoot string
	possible  *topology.CPUSet
	pinDir    string
}

// WithSysfsRoot reads the CPU masks from root instead of
// /sys/devices/system/cpu (tests use fake trees).
func WithSysfsRoot(root string) Option { return func(c *config) { c.sysfsRoot = root } }

// WithPossibleCPUs overrides CPU detection: the possible CPUs are 0..n-1. It is
// the declared fallback for machines whose possible mask cannot be read.
func WithPossibleCPUs(n int) Option {
	return func(c *config) {
		set := topology.FirstN(n)
		c.possible = &set
	}
}

// WithPinDir pins every map as DIR/NAME. A map already pinned there is reused
// when it is compatible with the declaration (same type, key and value size;
// for perf arrays at least as many entries as the declaration needs), and the
// load fails naming the map otherwise.
func WithPinDir(dir string) Option { return func(c *config) { c.pinDir = dir } }

// MapSize records how the loader sized one perf event array.
type MapSize struct {
	Name string
	// Declared is max_entries as written in the object (0 = automatic).
	Declared uint32
	// Actual is max_entries of the map in the kernel.
	Actual uint32
	// Reused is true when the map was an existing pin.
	Reused bool
}

// Collection is a loaded object.
type Collection struct {
	Maps     map[string]*ebpf.Map
	Programs map[string]*ebpf.Program
	// Possible is the possible CPU mask the object was sized for.
	Possible topology.CPUSet
	// PerfSizes lists every perf event array in name order.
	PerfSizes []MapSize

	sysfsRoot string
}

// Load loads the BPF ELF object at path.
func Load(path string, opts ...Option) (*Collection, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	coll, err := LoadSpec(spec, opts...)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return coll, nil
}

// LoadSpec loads an already parsed collection spec.
func LoadSpec(spec *ebpf.CollectionSpec, opts ...Option) (_ *Collection, err error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	coll := &Collection{
		Maps:      make(map[string]*ebpf.Map),
		Programs:  make(map[string]*ebpf.Program),
		sysfsRoot: cfg.sysfsRoot,
	}
	defer func() {
		if err != nil {
			coll.Close()
		}
	}()

	names := sortedKeys(spec.Maps)
	// Validate every perf array before touching the kernel, and read the
	// possible mask once for the whole object, only if some array needs it.
	needPossible := false
	for _, name := range names {
		ms := spec.Maps[name]
		if ms.Type != ebpf.PerfEventArray {
			continue
		}
		if err := checkPerfSizes(name, ms); err != nil {
			return nil, err
		}
		needPossible = true
	}
	if needPossible {
		if cfg.possible != nil {
			coll.Possible = *cfg.possible
		} else if coll.Possible, err = topology.ReadPossible(cfg.sysfsRoot); err != nil {
			return nil, fmt.Errorf("size perf event arrays: %w (pass WithPossibleCPUs to override detection)", err)
		}
	}

	// The first kernel object: lift RLIMIT_MEMLOCK if the kernel charges it.
	if err := bpfsys.RaiseMemlock(); err != nil {
		return nil, err
	}
	for _, name := range names {
		ms := spec.Maps[name]
		m, size, err := coll.openMap(cfg, name, ms)
		if err != nil {
			return nil, err
		}
		coll.Maps[name] = m
		if ms.Type == ebpf.PerfEventArray {
			coll.PerfSizes = append(coll.PerfSizes, size)
		}
	}

	for _, name := range sortedKeys(spec.Programs) {
		ps := spec.Programs[name].Copy()
		for i := range ps.Instructions {
			ins := &ps.Instructions[i]
			ref := ins.Reference()
			if ref == "" || !ins.IsLoadFromMap() {
				continue
			}
			m, ok := coll.Maps[ref]
			if !ok {
				return nil, fmt.Errorf("program %s: instruction %d: %w %q", name, i, ErrUnknownMap, ref)
			}
			if err := ins.AssociateMap(m); err != nil {
				return nil, fmt.Errorf("program %s: bind map %s: %w", name, ref, err)
			}
		}
		prog, err := ebpf.NewProgram(ps)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		coll.Programs[name] = prog
	}
	return coll, nil
}

// checkPerfSizes applies the key/value rule: 0 means 4, anything else but 4 is
// refused, because the kernel stores a u32 fd under a u32 CPU index.
func checkPerfSizes(name string, ms *ebpf.MapSpec) error {
	if ms.KeySize != 0 && ms.KeySize != 4 {
		return fmt.Errorf("map %s: %w: key_size is %d, must be 4 (or 0 for the default)", name, ErrBadPerfMap, ms.KeySize)
	}
	if ms.ValueSize != 0 && ms.ValueSize != 4 {
		return fmt.Errorf("map %s: %w: value_size is %d, must be 4 (or 0 for the default)", name, ErrBadPerfMap, ms.ValueSize)
	}
	return nil
}

// perfMaxEntries is the size a perf array gets: as declared, or highest
// possible id + 1 when declared 0.
func (c *Collection) perfMaxEntries(ms *ebpf.MapSpec) uint32 {
	if ms.MaxEntries != 0 {
		return ms.MaxEntries
	}
	return topology.PerfArraySize(c.Possible)
}

func (c *Collection) openMap(cfg config, name string, ms *ebpf.MapSpec) (*ebpf.Map, MapSize, error) {
	size := MapSize{Name: name, Declared: ms.MaxEntries}
	pinPath := ""
	if cfg.pinDir != "" {
		pinPath = filepath.Join(cfg.pinDir, name)
		m, err := c.reusePinned(pinPath, name, ms)
		if err != nil {
			return nil, size, err
		}
		if m != nil {
			size.Actual, size.Reused = m.MaxEntries(), true
			return m, size, nil
		}
	}

	var m *ebpf.Map
	if ms.Type == ebpf.PerfEventArray {
		size.Actual = c.perfMaxEntries(ms)
		fd, err := bpfsys.CreateMap(bpfsys.MapCreate{
			Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4,
			MaxEntries: size.Actual, Flags: uint32(ms.Flags), Name: name,
		})
		if err != nil {
			return nil, size, fmt.Errorf("map %s: create perf event array with %d entries: %w", name, size.Actual, err)
		}
		if m, err = ebpf.NewMapFromFD(fd); err != nil {
			return nil, size, fmt.Errorf("map %s: %w", name, err)
		}
	} else {
		var err error
		if m, err = ebpf.NewMap(ms); err != nil {
			return nil, size, fmt.Errorf("map %s: %w", name, err)
		}
	}
	if pinPath != "" {
		if err := m.Pin(pinPath); err != nil {
			m.Close()
			return nil, size, fmt.Errorf("map %s: pin: %w", name, err)
		}
	}
	return m, size, nil
}

// reusePinned returns the map pinned at path when it can serve ms, nil when
// nothing is pinned there, and an error naming the mismatch otherwise.
func (c *Collection) reusePinned(path, name string, ms *ebpf.MapSpec) (*ebpf.Map, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("map %s: open pinned map %s: %w", name, path, err)
	}
	if ms.Type != ebpf.PerfEventArray {
		if err := ms.Compatible(m); err != nil {
			m.Close()
			return nil, fmt.Errorf("map %s: %s: %w: %w", name, path, ErrPinnedIncompatible, err)
		}
		return m, nil
	}
	// A perf array pinned by any loader is usable when every possible CPU has
	// a slot in it: its size may be larger than ours (an explicit size kept by
	// libbpf), never smaller than what the declaration asks for.
	want := c.perfMaxEntries(ms)
	switch {
	case m.Type() != ebpf.PerfEventArray:
		err = fmt.Errorf("type is %s, want %s", m.Type(), ebpf.PerfEventArray)
	case m.KeySize() != 4 || m.ValueSize() != 4:
		err = fmt.Errorf("key/value size %d/%d, want 4/4", m.KeySize(), m.ValueSize())
	case ms.MaxEntries != 0 && m.MaxEntries() != ms.MaxEntries:
		err = fmt.Errorf("max_entries %d, declared %d", m.MaxEntries(), ms.MaxEntries)
	case m.MaxEntries() < want:
		err = fmt.Errorf("max_entries %d leaves possible CPUs %s without a slot (needs %d)", m.MaxEntries(), c.Possible, want)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("map %s: %s: %w: %w", name, path, ErrPinnedIncompatible, err)
	}
	return m, nil
}

// PerfMapNames lists the collection's perf event arrays in name order.
func (c *Collection) PerfMapNames() []string {
	names := make([]string, 0, len(c.PerfSizes))
	for _, s := range c.PerfSizes {
		names = append(names, s.Name)
	}
	return names
}

// RingCPUs returns the CPUs a reader on the named perf array opens rings on:
// the CPUs online now whose id is below min(max_entries, highest possible + 1).
// The online mask is read now, not at load time, because CPUs come and go.
func (c *Collection) RingCPUs(name string) ([]int, error) {
	m, ok := c.Maps[name]
	if !ok || m.Type() != ebpf.PerfEventArray {
		return nil, fmt.Errorf("%w: perf event array %q", ErrUnknownMap, name)
	}
	online, err := topology.ReadOnline(c.sysfsRoot)
	if err != nil {
		return nil, fmt.Errorf("perf reader for map %s: %w", name, err)
	}
	topo := topology.Topology{Possible: c.Possible, Online: online}
	return topology.RingCPUs(topo, m.MaxEntries()).CPUs(), nil
}

// NewReader opens a perf reader on the named perf event array.
func (c *Collection) NewReader(name string, opts perfring.Options) (*perfring.Reader, error) {
	cpus, err := c.RingCPUs(name)
	if err != nil {
		return nil, err
	}
	r, err := perfring.New(c.Maps[name], cpus, opts)
	if err != nil {
		return nil, fmt.Errorf("perf reader for map %s: %w", name, err)
	}
	return r, nil
}

// PinPrograms pins every program as DIR/NAME.
func (c *Collection) PinPrograms(dir string) error {
	for _, name := range sortedKeys(c.Programs) {
		if err := c.Programs[name].Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("program %s: pin: %w", name, err)
		}
	}
	return nil
}

// Close releases every map and program (pins stay).
func (c *Collection) Close() error {
	var errs *multierror.Error
	for name, p := range c.Programs {
		if err := p.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("program %s: %w", name, err))
		}
	}
	for name, m := range c.Maps {
		if err := m.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("map %s: %w", name, err))
		}
	}
	return errs.ErrorOrNil()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
