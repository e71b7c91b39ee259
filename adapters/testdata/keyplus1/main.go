// Command keyplus1 is a wrong loader built on cilium/ebpf: it opens a perf
// ring on every possible CPU itself but files the ring of CPU c under key c+1
// (an off-by-one between CPU id and array slot). max_entries is raised to
// possible+1 so the kernel accepts every key (the array is created with
// BPF_MAP_CREATE directly: cilium/ebpf would clamp it). Output on CPU 0 then finds no
// ring (ENOENT) and output on CPU c>0 finds CPU c-1's ring (EOPNOTSUPP):
// nothing the programs write ever arrives.
package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/internal/ciliumload"
	"github.com/perfconform/perfconform/adapters/internal/rawmap"
	"github.com/perfconform/perfconform/adapters/protocol"
)

func main() {
	adapterkit.Main(protocol.Info{
		Loader:       "keyplus1",
		Version:      "cilium/ebpf " + ciliumload.Version() + " with rings filed under key cpu+1",
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, ciliumload.Load(ciliumload.Options{
		PerfArray: func(spec *ebpf.MapSpec) (*ebpf.Map, error) {
			n, err := ebpf.PossibleCPU()
			if err != nil {
				return nil, err
			}
			return rawmap.PerfEventArray(spec.Name, uint32(n+1))
		},
		OpenReader: openShifted,
	}))
}

type ring struct {
	cpu  int
	fd   int
	mem  []byte // meta page + data pages
	data []byte
}

// reader is a deliberately small perf ring reader: enough to deliver whatever
// reaches the rings it opened.
type reader struct {
	epfd   int
	rings  map[int]*ring // by perf fd
	closed atomic.Bool
	wake   int // eventfd that interrupts epoll_wait on Close
	mu     sync.Mutex
	queue  []perf.Record
}

func openShifted(m *ebpf.Map, pages int) (ciliumload.Reader, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	r := &reader{epfd: epfd, rings: map[int]*ring{}, wake: wake}
	unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
	psize := os.Getpagesize()
	for cpu := 0; cpu < n; cpu++ {
		attr := unix.PerfEventAttr{
			Type:        unix.PERF_TYPE_SOFTWARE,
			Config:      unix.PERF_COUNT_SW_BPF_OUTPUT,
			Sample_type: unix.PERF_SAMPLE_RAW,
			Wakeup:      1,
		}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if errors.Is(err, unix.ENODEV) {
			continue // offline CPU
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("perf_event_open on CPU %d: %w", cpu, err)
		}
		mem, err := unix.Mmap(fd, 0, (1+pages)*psize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			unix.Close(fd)
			r.Close()
			return nil, fmt.Errorf("mmap ring of CPU %d: %w", cpu, err)
		}
		rg := &ring{cpu: cpu, fd: fd, mem: mem, data: mem[psize:]}
		r.rings[fd] = rg
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			r.Close()
			return nil, fmt.Errorf("enable ring of CPU %d: %w", cpu, err)
		}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			r.Close()
			return nil, fmt.Errorf("epoll add CPU %d: %w", cpu, err)
		}
		// The fault: CPU c's ring goes under key c+1.
		if err := m.Put(uint32(cpu+1), uint32(fd)); err != nil {
			r.Close()
			return nil, fmt.Errorf("file ring of CPU %d under key %d: %w", cpu, cpu+1, err)
		}
	}
	return r, nil
}

// perf_event_mmap_page: data_head at 1024, data_tail at 1032.
func (rg *ring) head() *uint64 { return (*uint64)(unsafe.Pointer(&rg.mem[1024])) }
func (rg *ring) tail() *uint64 { return (*uint64)(unsafe.Pointer(&rg.mem[1032])) }

func (rg *ring) copyAt(off uint64, n int) []byte {
	out := make([]byte, n)
	size := uint64(len(rg.data))
	for i := range out {
		out[i] = rg.data[(off+uint64(i))%size]
	}
	return out
}

// drain appends every complete record in rg to out.
func (rg *ring) drain(out []perf.Record) []perf.Record {
	head := atomic.LoadUint64(rg.head())
	tail := *rg.tail()
	for tail < head {
		hdr := rg.copyAt(tail, 8)
		typ := *(*uint32)(unsafe.Pointer(&hdr[0]))
		size := *(*uint16)(unsafe.Pointer(&hdr[6]))
		body := rg.copyAt(tail+8, int(size)-8)
		switch typ {
		case unix.PERF_RECORD_SAMPLE:
			n := *(*uint32)(unsafe.Pointer(&body[0]))
			out = append(out, perf.Record{CPU: rg.cpu, RawSample: body[4 : 4+n]})
		case unix.PERF_RECORD_LOST:
			out = append(out, perf.Record{CPU: rg.cpu, LostSamples: *(*uint64)(unsafe.Pointer(&body[8]))})
		}
		tail += uint64(size)
	}
	atomic.StoreUint64(rg.tail(), tail)
	return out
}

func (r *reader) ReadInto(rec *perf.Record) error {
	events := make([]unix.EpollEvent, len(r.rings)+1)
	for {
		r.mu.Lock()
		if len(r.queue) > 0 {
			*rec = r.queue[0]
			r.queue = r.queue[1:]
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		if r.closed.Load() {
			return perf.ErrClosed
		}
		n, err := unix.EpollWait(r.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if r.closed.Load() {
				return perf.ErrClosed
			}
			return fmt.Errorf("epoll_wait: %w", err)
		}
		r.mu.Lock()
		if r.closed.Load() { // Close may have unmapped the rings
			r.mu.Unlock()
			return perf.ErrClosed
		}
		for _, ev := range events[:n] {
			if rg, ok := r.rings[int(ev.Fd)]; ok {
				r.queue = rg.drain(r.queue)
			}
		}
		r.mu.Unlock()
	}
}

func (r *reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	unix.Write(r.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	r.mu.Lock() // not while ReadInto drains a ring
	defer r.mu.Unlock()
	for fd, rg := range r.rings {
		unix.Munmap(rg.mem)
		unix.Close(fd)
	}
	return nil
}
