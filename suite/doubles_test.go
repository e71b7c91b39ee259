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
	// labelOffset reports samples (and lost counts) from CPU c as CPU
	// c+labelOffset.
	labelOffset int
	// everyOnline opens a ring on every online CPU, whatever max_entries
	// says (bcc, gobpf, goebpf): storing the fd of a CPU without a slot
	// fails with the kernel's E2BIG.
	everyOnline bool
	// neverLost drops the reader's lost counts.
	neverLost bool
	// inventLost reports one lost record before every sample.
	inventLost bool
	// doubleLost reports every lost count twice.
	doubleLost bool
	// bytesOnly reports samples and lost counts without their CPU
	// (protocol.CPUUnknown), like readers that hand over bare bytes.
	bytesOnly bool
	// noPinReuse always creates new maps and pins them (EEXIST on a pin).
	noPinReuse bool
	// silentFallback sizes for one CPU when the possible mask is unreadable.
	silentFallback bool
	// envRefused refuses every load before reading the object, as libbpfgo
	// 0.4 does where RLIMIT_MEMLOCK cannot be raised (StageEnvironment).
	envRefused bool
}

func (f *faulty) Info(context.Context) (protocol.Info, error) {
	return protocol.Info{Loader: f.name, Version: "double", Protocol: protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning}}, nil
}

func loadErr(stage protocol.Stage, format string, args ...any) error {
	return &suite.LoadError{Stage: stage, Err: fmt.Errorf(format, args...)}
}

func (f *faulty) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	if f.envRefused {
		return nil, loadErr(protocol.StageEnvironment, "error setting rlimit: operation not permitted")
	}
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
		if f.everyOnline {
			// The rings below max_entries work; the first CPU without a
			// slot fails the reader, as the kernel refuses its fd.
			var over []int
			for _, cpu := range online.CPUs() {
				if uint32(cpu) >= m.MaxEntries() {
					over = append(over, cpu)
				}
			}
			if len(over) > 0 {
				opened, err := misfile(m, over, 0, true)
				fds = append(fds, opened...)
				return fail(loadErr(protocol.StageReader, "map %s: perf ring for %w", name, err))
			}
		}
		if f.keyOffset != 0 {
			opened, err := misfile(m, cpus, f.keyOffset, false)
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
	// The reference's forwarding session, rewritten when the double lies
	// about CPUs or loss.
	sess := refadapter.NewSession(perfNames, readers, release)
	if rw := f.rewrite(); rw != nil {
		return rewrite(sess, rw), nil
	}
	return sess, nil
}

// rewrite returns what the double does to the reader's events, nil for
// nothing.
func (f *faulty) rewrite() func(protocol.Event) []protocol.Event {
	if f.labelOffset == 0 && !f.neverLost && !f.inventLost && !f.doubleLost && !f.bytesOnly {
		return nil
	}
	return func(ev protocol.Event) []protocol.Event {
		var out []protocol.Event
		if ev.Event == protocol.EventLost && f.neverLost {
			return nil
		}
		if ev.Event == protocol.EventSample && f.inventLost {
			out = append(out, protocol.Event{Event: protocol.EventLost, Map: ev.Map, CPU: ev.CPU, Lost: 1})
		}
		out = append(out, ev)
		if ev.Event == protocol.EventLost && f.doubleLost {
			out = append(out, ev)
		}
		for i := range out {
			if out[i].Event != protocol.EventSample && out[i].Event != protocol.EventLost {
				continue
			}
			out[i].CPU += f.labelOffset
			if f.bytesOnly {
				out[i].CPU = protocol.CPUUnknown
			}
		}
		return out
	}
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

// misfile opens a perf event per CPU and stores it under key cpu+offset;
// keys the map has no slot for are skipped unless strict, which leaves the
// kernel to refuse them. These rings are never read: with an offset no
// sample can reach them through BPF_F_CURRENT_CPU, and strict stores fail.
func misfile(m *ebpf.Map, cpus []int, offset int, strict bool) ([]int, error) {
	var fds []int
	for _, cpu := range cpus {
		key := cpu + offset
		if !strict && (key < 0 || uint32(key) >= m.MaxEntries()) {
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

// rewritten passes every event of an inner session through a function that
// returns what the double reports instead.
type rewritten struct {
	inner  suite.Session
	events chan protocol.Event
}

func rewrite(inner suite.Session, fn func(protocol.Event) []protocol.Event) *rewritten {
	r := &rewritten{inner: inner, events: make(chan protocol.Event)}
	go func() {
		defer close(r.events)
		for ev := range inner.Events() {
			for _, out := range fn(ev) {
				r.events <- out
			}
		}
	}()
	return r
}

func (r *rewritten) Events() <-chan protocol.Event { return r.events }

func (r *rewritten) Close() error {
	go func() {
		for range r.events { // unblock the relabeller while inner drains
		}
	}()
	return r.inner.Close()
}
