// Command offlinefail is a wrong loader built on cilium/ebpf: its reader
// treats a CPU going offline as fatal. It reads with cilium/ebpf's perf
// reader and, whenever a read finds nothing for 100ms, checks that every CPU
// online when the reader opened still is; once one is not, the read fails
// with "perf ring for CPU n: CPU went offline" (ENODEV). It is the negative
// control of RING-HOTPLUG-OFFLINE, which only runs in VMs (the suite does not
// take host CPUs offline); it also never adds rings for CPUs that come
// online, like every loader we know (RING-HOTPLUG-ONLINE).
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/reference/topology"
)

func main() {
	adapterkit.Main(protocol.Info{
		Loader:       "offlinefail",
		Version:      "cilium/ebpf " + ciliumload.Version() + " with a reader that fails when a CPU goes offline",
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{
		OpenReader: func(m *ebpf.Map, pages int) (ciliumload.Reader, error) {
			online, err := topology.ReadOnline(topology.DefaultSysfsRoot)
			if err != nil {
				return nil, err
			}
			rd, err := perf.NewReader(m, pages*os.Getpagesize())
			if err != nil {
				return nil, err
			}
			return &reader{Reader: rd, online: online}, nil
		},
	}))
}

type reader struct {
	*perf.Reader
	online topology.CPUSet // when the reader opened
}

func (r *reader) ReadInto(rec *perf.Record) error {
	for {
		r.SetDeadline(time.Now().Add(100 * time.Millisecond))
		err := r.Reader.ReadInto(rec)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		now, err := topology.ReadOnline(topology.DefaultSysfsRoot)
		if err != nil {
			return err
		}
		for _, cpu := range r.online.CPUs() {
			if !now.Contains(cpu) {
				return fmt.Errorf("perf ring for CPU %d: CPU went offline: %w", cpu, unix.ENODEV)
			}
		}
	}
}
