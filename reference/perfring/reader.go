package perfring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

var (
	// ErrNoRings means New was given no CPUs: a reader without rings could
	// never return a record.
	ErrNoRings = errors.New("no perf rings requested")
	// ErrClosed is returned by reads on, or blocked in, a closed Reader.
	ErrClosed = errors.New("perf reader closed")
	// ErrBadPages means Options.Pages is not a power of two greater than zero,
	// which the kernel requires of a perf ring's data area.
	ErrBadPages = errors.New("perf ring data pages must be a power of two > 0")
	// ErrBadWatermark means Options.Watermark is negative or not smaller than
	// the data area, so the reader would never be woken.
	ErrBadWatermark = errors.New("perf ring watermark must be >= 0 and smaller than the data area")
	// ErrBadCPU means a CPU id is negative, listed twice, or does not fit the
	// map (id >= max_entries).
	ErrBadCPU = errors.New("bad CPU for perf event array")
	// ErrNotPerfEventArray means the map given to New has another type.
	ErrNotPerfEventArray = errors.New("map is not a perf event array")
)

// Options configures the rings of a Reader.
type Options struct {
	// Pages is the number of data pages per CPU ring: a power of two, > 0.
	// One more page holds the ring's metadata.
	Pages int
	// Watermark is how many bytes must be waiting in a ring before the reader
	// is woken. 0 wakes it for every sample. Records below the watermark are
	// still returned once a deadline passes, see Reader.ReadInto.
	//
	// Per-sample wakeups, not reading, limit throughput under load: with a
	// quarter-ring watermark and short read deadlines the same producers
	// delivered 27.6x more 8-byte samples per second at 27x less reader CPU
	// per sample (docs/PERFORMANCE.md). The price is latency (records wait
	// for the watermark or the deadline), so high-rate readers should set it
	// and read with deadlines; the default favours latency.
	Watermark int
}

// Reader reads the perf rings of a set of CPUs behind one perf event array.
//
// ReadInto, Read and ReadFunc may be called from one goroutine at a time
// (concurrent calls are serialised); SetDeadline, CPUs and Close may be called from any
// goroutine at any time.
type Reader struct {
	mapName string
	array   *ebpf.Map // our clone of the caller's map: Close must work even if theirs is closed
	opts    Options
	epollFd int
	wakeFd  int // eventfd that Close writes to wake a blocked epoll_wait

	// ringsMu guards the ring table, which AddCPU changes while a read may
	// block in epoll_wait holding mu. Lock order: mu, then ringsMu.
	ringsMu sync.RWMutex
	cpus    []int
	// rings is indexed by the epoll event data of each ring's fd; a slot
	// is nil once its ring was replaced and closed. Append-only otherwise.
	rings   []*ring
	stored  []int // keys an fd was put at, which Close deletes
	retired int   // rings replaced by AddCPU, closed once drained

	deadline  atomic.Int64 // UnixNano, 0 = none
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// mu is held by ReadInto for its whole run and by Close while it tears
	// the rings down; it guards everything below.
	mu     sync.Mutex
	events []unix.EpollEvent
	ready  []*ring // rings with unread records, in round-robin order
	turn   int     // index in ready of the ring whose turn it is
	// view is the Record ReadFunc hands to its callback; scratch holds the
	// samples that wrap the end of a ring.
	view    Record
	scratch []byte
}

// wakeIndex marks the eventfd in epoll event data; ring events carry their
// index in Reader.rings.
const wakeIndex = -1

// CheckPages returns an error wrapping ErrBadPages unless pages is a size
// the kernel accepts for a perf ring's data area: a power of two > 0.
func CheckPages(pages int) error {
	if pages <= 0 || pages&(pages-1) != 0 {
		return fmt.Errorf("%w: %d pages", ErrBadPages, pages)
	}
	return nil
}

// New opens a perf ring on every CPU in cpus and stores each ring's event fd
// in m at key = CPU id. m must be a perf event array with max_entries greater
// than every CPU id. On error nothing stays open and no map entry stays set.
func New(m *ebpf.Map, cpus []int, opts Options) (_ *Reader, err error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil map", ErrNotPerfEventArray)
	}
	name := m.String()
	if m.Type() != ebpf.PerfEventArray {
		return nil, fmt.Errorf("%w: map %s has type %s", ErrNotPerfEventArray, name, m.Type())
	}
	if err := CheckPages(opts.Pages); err != nil {
		return nil, fmt.Errorf("%w for map %s", err, name)
	}
	if dataSize := opts.Pages * os.Getpagesize(); opts.Watermark < 0 || opts.Watermark >= dataSize {
		return nil, fmt.Errorf("%w: watermark %d for %d-byte rings of map %s", ErrBadWatermark, opts.Watermark, dataSize, name)
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("%w: empty CPU list for map %s", ErrNoRings, name)
	}
	maxEntries := m.MaxEntries()
	seen := make(map[int]bool, len(cpus))
	for _, cpu := range cpus {
		switch {
		case cpu < 0:
			return nil, fmt.Errorf("%w: CPU %d is negative (map %s)", ErrBadCPU, cpu, name)
		case uint64(cpu) >= uint64(maxEntries):
			return nil, fmt.Errorf("%w: CPU %d does not fit map %s with max_entries %d", ErrBadCPU, cpu, name, maxEntries)
		case seen[cpu]:
			return nil, fmt.Errorf("%w: CPU %d listed twice (map %s)", ErrBadCPU, cpu, name)
		}
		seen[cpu] = true
	}

	array, err := m.Clone()
	if err != nil {
		return nil, fmt.Errorf("perf reader for map %s: clone map: %w", name, err)
	}
	rd := &Reader{
		mapName: name,
		array:   array,
		opts:    opts,
		cpus:    slices.Clone(cpus),
		rings:   make([]*ring, 0, len(cpus)),
		stored:  make([]int, 0, len(cpus)),
		epollFd: -1,
		wakeFd:  -1,
		events:  make([]unix.EpollEvent, len(cpus)+1),
		ready:   make([]*ring, 0, len(cpus)),
	}
	defer func() {
		if err != nil {
			if cerr := rd.release(); cerr != nil {
				err = multierror.Append(err, cerr)
			}
		}
	}()

	if rd.epollFd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("perf reader for map %s: epoll_create1: %w", name, err)
	}
	if rd.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("perf reader for map %s: eventfd: %w", name, err)
	}
	if err := rd.addToEpoll(rd.wakeFd, wakeIndex); err != nil {
		return nil, fmt.Errorf("perf reader for map %s: watch eventfd: %w", name, err)
	}

	for i, cpu := range rd.cpus {
		r, err := openRing(cpu, opts.Pages, opts.Watermark)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		rd.rings = append(rd.rings, r)
		if err := rd.addToEpoll(r.fd, int32(i)); err != nil {
			return nil, fmt.Errorf("perf ring for CPU %d of map %s: epoll_ctl: %w", cpu, name, err)
		}
		// The key is the CPU id, never the CPU's position in cpus: BPF
		// programs index the array with smp_processor_id().
		if err := rd.array.Put(uint32(cpu), uint32(r.fd)); err != nil {
			return nil, fmt.Errorf("perf ring for CPU %d: store fd in map %s at key %d: %w", cpu, name, cpu, err)
		}
		rd.stored = append(rd.stored, cpu)
	}
	return rd, nil
}

func (rd *Reader) addToEpoll(fd int, index int32) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: index}
	return unix.EpollCtl(rd.epollFd, unix.EPOLL_CTL_ADD, fd, &ev)
}

// CPUs returns the CPU ids the reader has rings for: those given to New, in
// that order, then those added by AddCPU.
func (rd *Reader) CPUs() []int {
	rd.ringsMu.RLock()
	defer rd.ringsMu.RUnlock()
	return slices.Clone(rd.cpus)
}

// AddCPU opens a ring for cpu and files it in the map at key cpu, for a CPU
// that came online after New. Reads pick it up at their next wakeup, a read
// blocked in epoll_wait included. It may be called from any goroutine.
//
// A CPU the reader already has a ring for gets a new one that replaces the
// old in the map: when a CPU goes offline the kernel takes its perf events
// off it for good, so after the CPU comes back BPF output there fails
// (-EOPNOTSUPP) until a new event is filed. The old ring's records are still
// read; it is closed once it is empty.
func (rd *Reader) AddCPU(cpu int) error {
	if rd.closed.Load() {
		return fmt.Errorf("perf reader for map %s: add CPU %d: %w", rd.mapName, cpu, ErrClosed)
	}
	maxEntries := rd.array.MaxEntries()
	if cpu < 0 || uint64(cpu) >= uint64(maxEntries) {
		return fmt.Errorf("%w: CPU %d does not fit map %s with max_entries %d", ErrBadCPU, cpu, rd.mapName, maxEntries)
	}
	r, err := openRing(cpu, rd.opts.Pages, rd.opts.Watermark)
	if err != nil {
		return fmt.Errorf("map %s: %w", rd.mapName, err)
	}
	rd.ringsMu.Lock()
	defer rd.ringsMu.Unlock()
	if rd.closed.Load() {
		r.close()
		return fmt.Errorf("perf reader for map %s: add CPU %d: %w", rd.mapName, cpu, ErrClosed)
	}
	old := -1
	for i, have := range rd.rings {
		if have != nil && have.cpu == cpu && !have.replaced {
			old = i
		}
	}
	index := len(rd.rings)
	if err := rd.addToEpoll(r.fd, int32(index)); err != nil {
		r.close()
		return fmt.Errorf("perf ring for CPU %d of map %s: epoll_ctl: %w", cpu, rd.mapName, err)
	}
	if err := rd.array.Put(uint32(cpu), uint32(r.fd)); err != nil {
		r.close() // closing the fd also takes it out of the epoll set
		return fmt.Errorf("perf ring for CPU %d: store fd in map %s at key %d: %w", cpu, rd.mapName, cpu, err)
	}
	rd.rings = append(rd.rings, r)
	if old >= 0 {
		rd.rings[old].replaced = true
		rd.retired++
	} else {
		rd.cpus = append(rd.cpus, cpu)
		rd.stored = append(rd.stored, cpu)
	}
	return nil
}

// sweepReplaced closes the rings AddCPU replaced once the reader has read
// everything in them. Called with mu held.
func (rd *Reader) sweepReplaced() {
	rd.ringsMu.Lock()
	defer rd.ringsMu.Unlock()
	for i, r := range rd.rings {
		if r == nil || !r.replaced || r.queued {
			continue
		}
		if r.loadHead(); r.head != r.tail {
			rd.enqueue(r)
			continue
		}
		r.close() // an error here only leaks what Close would have freed
		rd.rings[i] = nil
		rd.retired--
	}
}

// SetDeadline makes blocked and future reads return an error wrapping
// os.ErrDeadlineExceeded once t has passed. The zero time means no deadline.
// A read already blocked keeps the deadline it started with until it wakes up.
func (rd *Reader) SetDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
		if ns == 0 {
			ns = 1 // 0 means "no deadline"
		}
	}
	rd.deadline.Store(ns)
}

// Read returns the next record in a new Record. ReadInto avoids the allocation.
func (rd *Reader) Read() (Record, error) {
	var rec Record
	err := rd.ReadInto(&rec)
	return rec, err
}

// ReadInto blocks until a record is available and stores it in rec, reusing
// the capacity of rec.RawSample. It returns an error wrapping ErrClosed once
// the Reader is closed (also when Close is called while it blocks), and one
// wrapping os.ErrDeadlineExceeded when the deadline has passed and no ring
// holds a record, including records still below the watermark.
//
// A record that cannot be parsed is reported with ErrCorruptRecord and the
// rest of that CPU's ring is discarded; a record of unknown type is skipped
// and reported with ErrUnknownRecord. Both errors name the CPU, and reading
// can continue.
func (rd *Reader) ReadInto(rec *Record) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()

	for {
		if rd.closed.Load() {
			return fmt.Errorf("perf reader for map %s: %w", rd.mapName, ErrClosed)
		}
		if len(rd.ready) > 0 {
			if r := rd.next(); r != nil {
				return rd.readFrom(r, rec)
			}
			continue
		}
		if err := rd.wait(); err != nil {
			return err
		}
	}
}

// ReadFunc blocks like ReadInto until at least one record is ready, then
// gives every ring with records one batch, in turn, and calls fn for each
// record of the batch. It returns how many records fn was called for. The
// errors are ReadInto's: ErrClosed, os.ErrDeadlineExceeded (when no record was
// ready), ErrCorruptRecord and ErrUnknownRecord, the last two after the
// records before them in that batch were passed to fn.
//
// The record is not copied: rec.RawSample points into the ring itself when
// the sample is contiguous there, and into a buffer of the Reader (reused,
// so allocation-free in steady state) when it wraps the end of the ring.
// rec and rec.RawSample are valid only until fn returns: the kernel reuses
// the space as soon as data_tail moves past it. fn must copy what it keeps,
// must not write to rec.RawSample, and must not call the Reader's read
// methods (it holds the reader's lock; Close and SetDeadline are fine and
// take effect once ReadFunc returns). A lost record comes with LostSamples
// > 0 and a nil RawSample.
//
// A batch is what the ring held when it was last looked at, so at most one
// ring's worth, and each ring gets one batch per call in round-robin order
// (shared with ReadInto): a busy CPU cannot starve the others. data_tail is
// published once per batch, after fn has returned for its last record. fn
// returning false stops ReadFunc after that record; the records fn saw,
// including that one, are consumed and the tail covering them is published,
// the rest stay for the next read.
func (rd *Reader) ReadFunc(fn func(rec *Record) bool) (n int, err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()

	for {
		if rd.closed.Load() {
			return 0, fmt.Errorf("perf reader for map %s: %w", rd.mapName, ErrClosed)
		}
		if len(rd.ready) > 0 {
			if n, err := rd.readRound(fn); n > 0 || err != nil {
				return n, err
			}
			continue
		}
		if err := rd.wait(); err != nil {
			return 0, err
		}
	}
}

// readRound gives each ring in the ready list, starting with the one whose
// turn it is, one batch; a ring found empty leaves the list (see next).
func (rd *Reader) readRound(fn func(*Record) bool) (n int, err error) {
	for left := len(rd.ready); left > 0; left-- {
		r := rd.next()
		if r == nil {
			continue
		}
		k, more, err := rd.readBatch(r, fn)
		n += k
		if err != nil || !more {
			return n, err
		}
	}
	return n, nil
}

// readBatch passes the records of r up to the head loaded last to fn and
// publishes the tail once, after the last of them. more is false when fn
// asked to stop.
func (rd *Reader) readBatch(r *ring, fn func(*Record) bool) (n int, more bool, err error) {
	rec := &rd.view
	base, mask := r.buf.base, r.buf.mask
	for r.tail != r.head {
		// Fast path, the common case: a sample record lying whole in the
		// ring, handed over in place. Everything else (wraps, lost records,
		// anything suspicious) takes the validating decoder below.
		if raw, rawLen, size := contiguousSample(base, mask, r.tail, r.head); raw != nil {
			rec.RawSample = unsafe.Slice((*byte)(raw), rawLen)
			rec.LostSamples = 0
			rec.CPU = r.cpu
			r.tail += size
			n++
			if !fn(rec) {
				r.storeTail()
				return n, false, nil
			}
			continue
		}
		next, err := r.buf.view(r.head, r.tail, rec, &rd.scratch)
		if err != nil {
			if errors.Is(err, ErrCorruptRecord) {
				next = r.head // as in readFrom: no next record boundary
			}
			r.tail = next
			r.storeTail()
			return n, false, fmt.Errorf("perf ring for CPU %d of map %s: %w", r.cpu, rd.mapName, err)
		}
		r.tail = next
		rec.CPU = r.cpu // set per record: fn may have changed it
		n++
		if !fn(rec) {
			r.storeTail()
			return n, false, nil
		}
	}
	r.storeTail()
	return n, true, nil
}

// next returns the ring whose turn it is and that still holds a record, or
// nil if the ring whose turn it was turned out empty (it is dropped from the
// ready list). Each ring is read up to the head loaded when it joined the
// ready list; at that point (when its tail has been published, see readFrom)
// its head is reloaded, so a ring the kernel keeps filling stays in the
// rotation without a syscall, but never gets more than one record per turn.
func (rd *Reader) next() *ring {
	if rd.turn >= len(rd.ready) {
		rd.turn = 0
	}
	r := rd.ready[rd.turn]
	if r.tail == r.head {
		r.loadHead()
		if r.tail == r.head {
			rd.ready = slices.Delete(rd.ready, rd.turn, rd.turn+1)
			r.queued = false
			return nil
		}
	}
	rd.turn++
	return r
}

func (rd *Reader) readFrom(r *ring, rec *Record) error {
	next, err := r.buf.parse(r.head, r.tail, rec)
	if err != nil {
		if errors.Is(err, ErrCorruptRecord) {
			// No way to find the next record boundary: drop what is left.
			next = r.head
		}
		r.tail = next
		r.storeTail()
		rec.CPU = r.cpu
		return fmt.Errorf("perf ring for CPU %d of map %s: %w", r.cpu, rd.mapName, err)
	}
	r.tail = next
	if next == r.head {
		// The reader may not come back for a while: hand the space
		// back now rather than on its next call.
		r.storeTail()
	}
	rec.CPU = r.cpu
	return nil
}

// enqueue adds r to the ready list unless it is there already.
func (rd *Reader) enqueue(r *ring) {
	if r.queued {
		return
	}
	r.loadHead()
	if r.head == r.tail {
		return
	}
	r.queued = true
	rd.ready = append(rd.ready, r)
}

// wait blocks in epoll_wait until a ring is readable, the deadline passes or
// Close wakes it, and queues the readable rings.
func (rd *Reader) wait() error {
	timeout := -1
	expired := false
	if dl := rd.deadline.Load(); dl != 0 {
		d := time.Until(time.Unix(0, dl))
		if d <= 0 {
			timeout, expired = 0, true
		} else {
			// Round up so the wait never ends before the deadline; cap at
			// epoll's int32 milliseconds and wait again if need be.
			timeout = int(min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
		}
	}

	rd.ringsMu.RLock()
	if need := len(rd.rings) + 1; need > len(rd.events) {
		rd.events = make([]unix.EpollEvent, need) // AddCPU added rings
	}
	retired := rd.retired
	rd.ringsMu.RUnlock()
	if retired > 0 {
		rd.sweepReplaced()
	}
	n, err := unix.EpollWait(rd.epollFd, rd.events, timeout)
	if errors.Is(err, unix.EINTR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("perf reader for map %s: epoll_wait: %w", rd.mapName, err)
	}
	rd.ringsMu.RLock()
	defer rd.ringsMu.RUnlock()
	for _, ev := range rd.events[:n] {
		if ev.Fd == wakeIndex {
			rd.closed.Store(true)
			return fmt.Errorf("perf reader for map %s: %w", rd.mapName, ErrClosed)
		}
		if r := rd.rings[ev.Fd]; r != nil {
			rd.enqueue(r)
		}
	}

	if n == 0 && expired {
		// Rings below their watermark never wake epoll; look at every
		// ring before reporting that nothing is there.
		for _, r := range rd.rings {
			if r != nil {
				rd.enqueue(r)
			}
		}
		if len(rd.ready) == 0 {
			return fmt.Errorf("perf reader for map %s: %w", rd.mapName, os.ErrDeadlineExceeded)
		}
	}
	return nil
}

// Close wakes a blocked ReadInto, deletes the map entries New set, unmaps the
// rings and closes every fd. It is safe to call more than once and from any
// goroutine; later calls return the first call's result.
func (rd *Reader) Close() error {
	rd.closeOnce.Do(func() {
		rd.closed.Store(true)
		// Wake a ReadInto blocked in epoll_wait; the eventfd stays readable,
		// so a ReadInto that is about to block wakes up too.
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		if _, err := unix.Write(rd.wakeFd, one[:]); err != nil {
			rd.closeErr = multierror.Append(rd.closeErr,
				fmt.Errorf("perf reader for map %s: wake reader: %w", rd.mapName, err))
		}
		rd.mu.Lock()
		defer rd.mu.Unlock()
		if err := rd.release(); err != nil {
			rd.closeErr = multierror.Append(rd.closeErr, err)
		}
	})
	return rd.closeErr
}

// release undoes New: map entries first, so BPF programs stop writing into
// rings that are about to go away, then rings, epoll, eventfd and the map
// clone. It collects every error and stops at none.
func (rd *Reader) release() error {
	rd.ringsMu.Lock()
	defer rd.ringsMu.Unlock()
	var errs *multierror.Error
	for _, cpu := range rd.stored {
		if err := rd.array.Delete(uint32(cpu)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = multierror.Append(errs, fmt.Errorf("perf ring for CPU %d: delete key %d from map %s: %w", cpu, cpu, rd.mapName, err))
		}
	}
	rd.stored = nil
	for _, r := range rd.rings {
		if r == nil {
			continue
		}
		if err := r.close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("map %s: %w", rd.mapName, err))
		}
	}
	rd.rings, rd.ready = nil, nil
	for _, fd := range []*int{&rd.epollFd, &rd.wakeFd} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("perf reader for map %s: close fd %d: %w", rd.mapName, *fd, err))
			}
			*fd = -1
		}
	}
	if rd.array != nil {
		if err := rd.array.Close(); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("perf reader for map %s: close map clone: %w", rd.mapName, err))
		}
		rd.array = nil
	}
	return errs.ErrorOrNil()
}
