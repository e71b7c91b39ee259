// Package ciliumload is the `load` half of the cilium-ebpf adapter: it loads an
// object with github.com/cilium/ebpf's defaults, pins every map, and runs
// cilium/ebpf's perf reader on every perf event array, after
// rlimit.RemoveMemlock as cilium/ebpf's documentation asks. The negative-control
// loaders in adapters/testdata reuse it with one deliberate fault injected
// through Options, so that the only difference between them and the real
// adapter is the fault.
package ciliumload

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/rawmap"
	"github.com/perfconform/perfconform/adapters/protocol"
)

// Module is the loader's module path.
const Module = "github.com/cilium/ebpf"

// Version is the cilium/ebpf version linked into this binary, from its build
// info ("(unknown)" if the binary carries none).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	for _, dep := range bi.Deps {
		if dep.Path == Module {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "(unknown)"
}

// Reader is what Load needs from a perf reader.
type Reader interface {
	ReadInto(*perf.Record) error
	Close() error
}

// Options inject behaviour; the zero value is cilium/ebpf's default behaviour.
type Options struct {
	// PerfArray, if set, creates every perf event array in place of
	// NewCollection (which would clamp its size); the programs are bound to
	// the returned map with AssociateMap.
	PerfArray func(spec *ebpf.MapSpec) (*ebpf.Map, error)
	// OpenReader, if set, replaces perf.NewReader(m, pages*pagesize).
	OpenReader func(m *ebpf.Map, pages int) (Reader, error)
	// AfterReady, if set, runs right after the ready line, before any
	// record is forwarded (controls that break the protocol after ready).
	AfterReady func(w *adapterkit.Writer, perfMaps []string) error
	// Sample and Lost, if set, replace w.Sample and w.Lost for the records
	// the readers deliver (controls that report them wrongly).
	Sample func(w *adapterkit.Writer, m string, cpu int, data []byte) error
	Lost   func(w *adapterkit.Writer, m string, cpu int, n uint64) error
	// AutoSize, if set, gives every perf event array declared without
	// max_entries its size before NewCollection (which fills in the
	// possible-CPU count only where none is set, and clamps larger ones).
	AutoSize func() (uint32, error)
}

// Load implements adapterkit.LoadFunc with opts.
func Load(opts Options) adapterkit.LoadFunc {
	return func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
		return load(ctx, args, w, opts)
	}
}

func load(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer, opts Options) error {
	// What cilium/ebpf tells its users to do before loading anything: lift
	// RLIMIT_MEMLOCK on kernels that charge BPF memory to it (before 5.11; a
	// no-op on newer ones). The adapter starts with the limit the suite had
	// before it raised its own (adapters/process), as a user's program would.
	if err := rlimit.RemoveMemlock(); err != nil {
		return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("rlimit.RemoveMemlock: %w", err))
	}
	spec, err := ebpf.LoadCollectionSpec(args.Object)
	if err != nil {
		return adapterkit.Fail(protocol.StageLoad, err)
	}
	own := map[string]*ebpf.Map{} // maps created by opts.PerfArray
	defer func() {
		for _, m := range own {
			m.Close()
		}
	}()
	if opts.PerfArray != nil {
		for name, ms := range spec.Maps {
			if ms.Type != ebpf.PerfEventArray {
				continue
			}
			m, err := opts.PerfArray(ms)
			if err != nil {
				return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("create map %s: %w", name, err))
			}
			own[name] = m
			for _, ps := range spec.Programs {
				if err := ps.Instructions.AssociateMap(name, m); err != nil && !errors.Is(err, asm.ErrUnreferencedSymbol) {
					return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("bind map %s to program %s: %w", name, ps.Name, err))
				}
			}
			delete(spec.Maps, name)
		}
	}
	if opts.AutoSize != nil {
		for name, ms := range spec.Maps {
			if ms.Type != ebpf.PerfEventArray || ms.MaxEntries != 0 {
				continue
			}
			n, err := opts.AutoSize()
			if err != nil {
				return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("size map %s: %w", name, err))
			}
			ms.MaxEntries = n
		}
	}
	// Pin by name under the pin dir: cilium/ebpf's own pinning, which
	// reuses a compatible map already pinned there (the COMPAT requirements)
	// and pins new ones, exactly as a user of the library would ask for it.
	for _, ms := range spec.Maps {
		ms.Pinning = ebpf.PinByName
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: args.PinDir}})
	if err != nil {
		return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("%s: %w", args.Object, err))
	}
	defer coll.Close()

	all := maps.Clone(coll.Maps)
	maps.Copy(all, own)
	names := slices.Sorted(maps.Keys(all))
	var perfMaps []string
	for _, name := range names {
		m := all[name]
		path := filepath.Join(args.PinDir, name)
		if m.IsPinned() {
			// Pinned (or reused) by NewCollectionWithOptions.
		} else if err := m.Pin(path); err != nil {
			return adapterkit.Fail(protocol.StageLoad, fmt.Errorf("pin map %s at %s: %w", name, path, err))
		}
		if m.Type() == ebpf.PerfEventArray {
			perfMaps = append(perfMaps, name)
		}
	}

	open := opts.OpenReader
	if open == nil {
		open = func(m *ebpf.Map, pages int) (Reader, error) {
			return perf.NewReader(m, pages*os.Getpagesize())
		}
	}
	readers := make(map[string]Reader, len(perfMaps))
	closeAll := func() {
		for _, rd := range readers {
			rd.Close()
		}
	}
	for _, name := range perfMaps {
		rd, err := open(all[name], args.Pages)
		if err != nil {
			closeAll()
			return adapterkit.Fail(protocol.StageReader, fmt.Errorf("perf reader for map %s: %w", name, err))
		}
		readers[name] = rd
	}
	if err := w.Ready(perfMaps); err != nil {
		closeAll()
		return err
	}
	if opts.AfterReady != nil {
		if err := opts.AfterReady(w, perfMaps); err != nil {
			closeAll()
			return err
		}
	}
	sample, lost := opts.Sample, opts.Lost
	if sample == nil {
		sample = (*adapterkit.Writer).Sample
	}
	if lost == nil {
		lost = (*adapterkit.Writer).Lost
	}

	// One goroutine per map; the first read error stops everything.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for name, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rec perf.Record
			for {
				err := rd.ReadInto(&rec)
				if errors.Is(err, perf.ErrClosed) {
					return
				}
				if err != nil {
					cancel(adapterkit.Fail(protocol.StageReader, fmt.Errorf("read map %s: %w", name, err)))
					return
				}
				if rec.LostSamples > 0 {
					err = lost(w, name, rec.CPU, rec.LostSamples)
				} else {
					err = sample(w, name, rec.CPU, rec.RawSample)
				}
				if err != nil { // stdout gone: nobody is listening
					cancel(err)
					return
				}
			}
		}()
	}
	<-ctx.Done()
	closeAll()
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// FixedSizeMain runs a wrong loader that is the cilium-ebpf adapter except
// that every perf event array gets exactly entries slots, created with
// BPF_MAP_CREATE directly (cilium/ebpf would clamp the size itself). The
// negative controls hardcode32 and sizeone are this with 32 and 1.
func FixedSizeMain(name string, entries uint32) {
	adapterkit.Main(protocol.Info{
		Loader:       name,
		Version:      fmt.Sprintf("cilium/ebpf %s with max_entries forced to %d", Version(), entries),
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, Load(Options{PerfArray: func(spec *ebpf.MapSpec) (*ebpf.Map, error) {
		return rawmap.PerfEventArray(spec.Name, entries)
	}}))
}
