package perfring

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// ring is the perf ring of one CPU: the event fd and its mapping.
type ring struct {
	cpu  int
	fd   int
	mmap []byte
	meta *unix.PerfEventMmapPage
	buf  ringBuffer

	// head is the data_head last loaded; tail is how far the reader has
	// consumed. tail is published to the kernel (data_tail) when the reader
	// reaches head, see Reader.next.
	head, tail uint64
	// queued is true while the ring is in Reader.ready.
	queued bool
	// replaced: AddCPU filed a newer ring for this CPU; this one is closed
	// once drained.
	replaced bool
}

// openRing opens the BPF output event for cpu and maps 1+pages pages of it.
// Errors name the CPU; the caller adds the map.
func openRing(cpu, pages, watermark int) (*ring, error) {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_BPF_OUTPUT,
		Sample_type: unix.PERF_SAMPLE_RAW,
		Wakeup:      1, // wakeup_events: wake the reader for every sample
	}
	if watermark > 0 {
		// wakeup_watermark shares the union with wakeup_events.
		attr.Bits |= unix.PerfBitWatermark
		attr.Wakeup = uint32(watermark)
	}
	attr.Size = uint32(unsafe.Sizeof(attr))

	fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("perf ring for CPU %d: %w", cpu, err)
	}

	pageSize := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, (1+pages)*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("perf ring for CPU %d: mmap %d pages: %w", cpu, 1+pages, err)
	}

	// The metadata page starts with struct perf_event_mmap_page, which is
	// smaller than a page; data_head and data_tail are 8-byte aligned in it.
	meta := (*unix.PerfEventMmapPage)(unsafe.Pointer(&mem[0]))
	off, size := meta.Data_offset, meta.Data_size
	if size == 0 {
		// Kernels before 4.1 leave these zero: data follows the first page.
		off, size = uint64(pageSize), uint64(pages*pageSize)
	}
	if size&(size-1) != 0 || off+size > uint64(len(mem)) {
		_ = unix.Munmap(mem)
		_ = unix.Close(fd)
		return nil, fmt.Errorf("perf ring for CPU %d: kernel reports data area %d+%d in a %d-byte mapping",
			cpu, off, size, len(mem))
	}

	r := &ring{
		cpu:  cpu,
		fd:   fd,
		mmap: mem,
		meta: meta,
		buf:  newRingBuffer(mem[off : off+size]),
	}
	r.tail = atomic.LoadUint64(&meta.Data_tail)
	r.head = r.tail
	return r, nil
}

// loadHead reads data_head with acquire semantics: every record byte below it
// is visible once the load returns.
func (r *ring) loadHead() { r.head = atomic.LoadUint64(&r.meta.Data_head) }

// storeTail publishes data_tail with release semantics: every record below it
// has been copied out before the kernel may reuse the space.
func (r *ring) storeTail() { atomic.StoreUint64(&r.meta.Data_tail, r.tail) }

// close unmaps the ring and closes the event.
func (r *ring) close() error {
	var errs *multierror.Error
	if r.mmap != nil {
		if err := unix.Munmap(r.mmap); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("perf ring for CPU %d: munmap: %w", r.cpu, err))
		}
		r.mmap, r.meta, r.buf = nil, nil, ringBuffer{}
	}
	if r.fd >= 0 {
		if err := unix.Close(r.fd); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("perf ring for CPU %d: close event fd %d: %w", r.cpu, r.fd, err))
		}
		r.fd = -1
	}
	return errs.ErrorOrNil()
}
