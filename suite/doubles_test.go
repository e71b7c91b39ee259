package suite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
)

// faulty is a deliberately wrong loader: each knob reproduces one real-world
// mistake, so the suite's own tests can show that every requirement fails
// when, and only when, a loader breaks it. Doubles create maps and open
// readers but do not load the fixtures' programs: the suite judges maps and
// rings, and writes samples with its own trigger program.
type faulty struct {
	name      string
	sysfsRoot string

	// autoSize sizes arrays declared with max_entries 0 (default: correct).
	autoSize func(possible topology.CPUSet) uint32
	// keepZeroKV creates perf arrays with key/value size as declared, 0 included.
	keepZeroKV bool
	// growExplicit raises explicit sizes below the CPU count to it.
	growExplicit bool
	// acceptBadSize rewrites a value_size of 8 to 4 silently.
	acceptBadSize bool
	// vagueBadSize refuses bad sizes without naming the map.
	vagueBadSize bool
	// ringCPUs picks the CPUs to open rings on (default: correct).
	ringCPUs func(t topology.Topology, maxEntries uint32) []int
	// keyOffset files the ring for CPU c under key c+keyOffset.
	keyOffset int
	// labelOffset reports samples from CPU c as CPU c+labelOffset.
	labelOffset int
	// noPinReuse always creates new maps and pins them (EEXIST on a pin).
	noPinReuse bool
	// silentFallback sizes for one CPU when the possible mask is unreadable.
	silentFallback bool
}

func (f *faulty) Info(context.Context) (protocol.Info, error) {
	return protocol.Info{Loader: f.name, Version: "double", Protocol: protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning}}, nil
}

func loadErr(stage protocol.Stage, format string, args ...any) error {
	return &suite.LoadError{Stage: stage, Err: fmt.Errorf(format, args...)}
}

func (f *faulty) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	spec, err := ebpf.LoadCollectionSpec(req.Object)
	if err != nil {
		return nil, loadErr(protocol.StageLoad, "%w", err)
	}
	var possible topology.CPUSet
	if req.PossibleCPUsFile != "" {
		possible, err = topology.ReadCPUListFile(req.PossibleCPUsFile)
	} else {
		possible, err = topology.ReadPossible(f.sysfsRoot)
	}
	if err != nil {
		if !f.silentFallback {
			return nil, loadErr(protocol.StageLoad, "%w", err)
		}
		possible = topology.FirstN(1)
	}
	online, err := topology.ReadOnline(f.sysfsRoot)
	if err != nil {
		return nil, loadErr(protocol.StageLoad, "%w", err)
	}
	topo := topology.Topology{Possible: possible, Online: online}

	var maps []*ebpf.Map
	var fds []int
	release := func() error {
		for _, fd := range fds {
			unix.Close(fd)
		}
		for _, m := range maps {
			m.Close()
		}
		return nil
	}
	var readers []*perfring.Reader
	fail := func(err error) (suite.Session, error) {
		for _, r := range readers {
			r.Close()
		}
		release()
		return nil, err
	}
	names := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		names = append(names, name)
	}
	sort.Strings(names)
	var perfNames []string
	for _, name := range names {
		m, err := f.openMap(name, spec.Maps[name], possible, req.PinDir)
		if err != nil {
			return fail(err)
		}
		maps = append(maps, m)
		if m.Type() != ebpf.PerfEventArray {
			continue
		}
		cpus := topology.RingCPUs(topo, m.MaxEntries()).CPUs()
		if f.ringCPUs != nil {
			cpus = f.ringCPUs(topo, m.MaxEntries())
		}
		if f.keyOffset != 0 {
			opened, err := misfile(m, cpus, f.keyOffset)
			fds = append(fds, opened...)
			if err != nil {
				return fail(loadErr(protocol.StageReader, "map %s: %w", name, err))
			}
			continue
		}
		r, err := perfring.New(m, cpus, perfring.Options{Pages: req.Pages})
		if err != nil {
			return fail(loadErr(protocol.StageReader, "map %s: %w", name, err))
		}
		readers = append(readers, r)
		perfNames = append(perfNames, name)
	}
	// The reference's forwarding session, relabelled when the double lies
	// about CPUs.
	sess := refadapter.NewSession(perfNames, readers, release)
	if f.labelOffset == 0 {
		return sess, nil
	}
	return relabel(sess, f.labelOffset), nil
}

func (f *faulty) openMap(name string, ms *ebpf.MapSpec, possible topology.CPUSet, pinDir string) (*ebpf.Map, error) {
	pin := filepath.Join(pinDir, name)
	if !f.noPinReuse {
		if m, err := ebpf.LoadPinnedMap(pin, nil); err == nil {
			return m, nil
		}
	}
	var m *ebpf.Map
	if ms.Type == ebpf.PerfEventArray {
		key, value := ms.KeySize, ms.ValueSize
		if !f.keepZeroKV {
			key, value = max(key, 4), max(value, 4)
		}
		if value != 4 && value != 0 {
			switch {
			case f.acceptBadSize:
				value = 4
			case f.vagueBadSize:
				return nil, loadErr(protocol.StageLoad, "invalid argument")
			default:
				return nil, loadErr(protocol.StageLoad, "map %s: value_size %d", name, value)
			}
		}
		size := ms.MaxEntries
		need := topology.PerfArraySize(possible)
		switch {
		case size == 0 && f.autoSize != nil:
			size = f.autoSize(possible)
		case size == 0:
			size = need
		case f.growExplicit && size < need:
			size = need
		}
		fd, err := bpfsys.CreateMap(bpfsys.MapCreate{Type: uint32(ebpf.PerfEventArray), KeySize: key, ValueSize: value, MaxEntries: size, Name: name})
		if err != nil {
			return nil, loadErr(protocol.StageLoad, "map %s: %w", name, err)
		}
		if m, err = ebpf.NewMapFromFD(fd); err != nil {
			return nil, loadErr(protocol.StageLoad, "map %s: %w", name, err)
		}
	} else {
		var err error
		if m, err = ebpf.NewMap(ms); err != nil {
			return nil, loadErr(protocol.StageLoad, "map %s: %w", name, err)
		}
	}
	if err := m.Pin(pin); err != nil {
		m.Close()
		return nil, loadErr(protocol.StageLoad, "map %s: pin: %w", name, err)
	}
	return m, nil
}

// misfile opens a perf event per CPU and stores it under the wrong key; no
// sample can ever reach these rings through BPF_F_CURRENT_CPU, so there is
// nothing to read.
func misfile(m *ebpf.Map, cpus []int, offset int) ([]int, error) {
	var fds []int
	for _, cpu := range cpus {
		key := cpu + offset
		if key < 0 || uint32(key) >= m.MaxEntries() {
			continue
		}
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_BPF_OUTPUT, Sample_type: unix.PERF_SAMPLE_RAW, Wakeup: 1}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return fds, fmt.Errorf("CPU %d: %w", cpu, err)
		}
		fds = append(fds, fd)
		if err := m.Put(uint32(key), uint32(fd)); err != nil {
			return fds, fmt.Errorf("CPU %d at key %d: %w", cpu, key, err)
		}
	}
	return fds, nil
}

// relabelled reports every sample of an inner session as coming from CPU
// c+offset.
type relabelled struct {
	inner  suite.Session
	events chan protocol.Event
}

func relabel(inner suite.Session, offset int) *relabelled {
	r := &relabelled{inner: inner, events: make(chan protocol.Event)}
	go func() {
		defer close(r.events)
		for ev := range inner.Events() {
			ev.CPU += offset
			r.events <- ev
		}
	}()
	return r
}

func (r *relabelled) Events() <-chan protocol.Event { return r.events }

func (r *relabelled) Close() error {
	go func() {
		for range r.events { // unblock the relabeller while inner drains
		}
	}()
	return r.inner.Close()
}
