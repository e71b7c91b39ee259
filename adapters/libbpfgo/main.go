// Command libbpfgo is the perfconform adapter for github.com/aquasecurity/libbpfgo
// (Tracee's loader), protocol 1.1 (docs/ADAPTERS.md): NewModuleFromFile,
// BPFMap.SetPinPath on every map, BPFLoadObject with libbpf's defaults (libbpf
// sizes perf event arrays), then InitPerfBuf + Start on every perf event array,
// as libbpfgo's documentation and samples show.
//
// libbpfgo hands samples over as bare []byte on a channel and lost counts as
// bare uint64 on another, without the CPU libbpf's callbacks receive, so every
// sample and lost line says cpu -1 (protocol.CPUUnknown, allowed on samples
// from protocol minor revision 1 on).
//
// It is a module of its own (cgo, libbpf) so that perfconform's main module
// does not depend on libbpfgo; it is linked statically against Debian's
// libbpf 1.1 (libbpf.a -lelf -lz) to run inside the VMs.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	bpf "github.com/aquasecurity/libbpfgo"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/protocol"
)

const module = "github.com/aquasecurity/libbpfgo"

func main() {
	adapterkit.Main(protocol.Info{
		Loader:   "libbpfgo",
		Version:  version(),
		Protocol: protocol.Version,
		Minor:    protocol.MinorCPUUnknownSamples,
		// No legacy-maps: libbpf 1.x refuses the legacy SEC("maps").
		Capabilities: []protocol.Capability{protocol.CapPinning},
	}, load)
}

// version is libbpfgo's module version and the libbpf it is built against.
func version() string {
	v := "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == module {
				v = dep.Version
			}
		}
	}
	return fmt.Sprintf("%s (libbpf v%d.%d)", v, bpf.MajorVersion(), bpf.MinorVersion())
}

// libbpfLog keeps libbpf's messages (on stderr as libbpfgo prints them by
// default) and hands the recent ones to error lines: libbpfgo's own errors
// are bare errnos ("failed to load BPF object: invalid argument"), libbpf's
// log says which map.
type libbpfLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *libbpfLog) log(_ int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	l.mu.Lock()
	l.msgs = append(l.msgs, strings.TrimSpace(msg))
	l.mu.Unlock()
}

func (l *libbpfLog) reset() {
	l.mu.Lock()
	l.msgs = nil
	l.mu.Unlock()
}

// wrap adds what libbpf logged since the last reset to err.
func (l *libbpfLog) wrap(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) == 0 {
		return err
	}
	return fmt.Errorf("%w (libbpf: %s)", err, strings.Join(l.msgs, "; "))
}

func load(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
	logs := &libbpfLog{}
	// libbpfgo hands Log no level (v0.4.6 passes 0); filters get libbpf's.
	bpf.SetLoggerCbs(bpf.Callbacks{Log: logs.log, LogFilters: []func(int, string) bool{
		func(level int, _ string) bool { return level == bpf.LibbpfDebugLevel },
	}})

	m, err := bpf.NewModuleFromFile(args.Object)
	if err != nil && strings.Contains(err.Error(), "error setting rlimit") {
		// libbpfgo 0.4 raises RLIMIT_MEMLOCK to 512 MiB before it reads
		// the object, whatever the kernel; where root lacks
		// CAP_SYS_RESOURCE (containers, sandboxes) it stops there. That is
		// no answer about perf arrays: the suite reports ERROR.
		return adapterkit.Fail(protocol.StageEnvironment, fmt.Errorf("libbpfgo's NewModuleFromFile raises RLIMIT_MEMLOCK to 512 MiB and this environment refuses it (needs CAP_SYS_RESOURCE or a hard limit of at least 512 MiB): %w", err))
	}
	if err != nil {
		return adapterkit.Fail(protocol.StageLoad, logs.wrap(fmt.Errorf("open %s: %w", args.Object, err)))
	}
	exiting := false // the session ended: see its end below
	defer func() {
		if !exiting {
			m.Close()
		}
	}()

	// libbpf's pin-by-path: a compatible map already pinned there is
	// reused, anything else is pinned by BPFLoadObject (the COMPAT
	// requirements).
	var maps []*bpf.BPFMap
	it := m.Iterator()
	for mp := it.NextMap(); mp != nil; mp = it.NextMap() {
		if err := mp.SetPinPath(filepath.Join(args.PinDir, mp.Name())); err != nil {
			return adapterkit.Fail(protocol.StageLoad, logs.wrap(err))
		}
		maps = append(maps, mp)
	}
	if err := m.BPFLoadObject(); err != nil {
		return adapterkit.Fail(protocol.StageLoad, logs.wrap(fmt.Errorf("%s: %w", args.Object, err)))
	}
	var perfMaps []string
	for _, mp := range maps {
		if err := mp.Pin(filepath.Join(args.PinDir, mp.Name())); err != nil {
			return adapterkit.Fail(protocol.StageLoad, logs.wrap(err))
		}
		if mp.Type() == bpf.MapTypePerfEventArray {
			perfMaps = append(perfMaps, mp.Name())
		}
	}
	logs.reset() // reader errors get only what follows

	type reader struct {
		name   string
		pb     *bpf.PerfBuffer
		events chan []byte
		lost   chan uint64
	}
	var readers []reader
	for _, name := range perfMaps {
		r := reader{name: name, events: make(chan []byte, 1024), lost: make(chan uint64, 64)}
		if r.pb, err = m.InitPerfBuf(name, r.events, r.lost, args.Pages); err != nil {
			return adapterkit.Fail(protocol.StageReader, logs.wrap(fmt.Errorf("perf buffer for map %s: %w", name, err)))
		}
		readers = append(readers, r)
	}
	for _, r := range readers {
		r.pb.Start()
	}
	if err := w.Ready(perfMaps); err != nil {
		return err
	}

	// Start's goroutine polls; the forwarders run until the process exits.
	for _, r := range readers {
		go func() {
			events, lost := r.events, r.lost
			for events != nil || lost != nil {
				select {
				case data, ok := <-events:
					if !ok {
						events = nil
						continue
					}
					w.Sample(r.name, protocol.CPUUnknown, data)
				case n, ok := <-lost:
					if !ok {
						lost = nil
						continue
					}
					w.Lost(r.name, protocol.CPUUnknown, n)
				}
			}
		}()
	}
	<-ctx.Done()
	// The session is over and the adapter exits (adapterkit.Main) without
	// stopping libbpfgo's readers or closing the module: PerfBuffer.Stop
	// waits for its poller, which sits in perf_buffer__poll with libbpfgo's
	// fixed 300ms timeout, so every session's end took up to 300ms, a third
	// of this adapter's time in a VM (docs/PERFORMANCE.md). Exiting frees
	// what Stop and Close would (the kernel closes the perf events, maps and
	// programs with the process; the pins stay either way), and records
	// still in libbpfgo's channels are dropped as Stop drops them. Sealing
	// the writer lets a line being forwarded finish and no other start.
	exiting = true
	w.Seal()
	return nil
}
