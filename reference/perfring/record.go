package perfring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrCorruptRecord means the bytes between data_tail and data_head do not form
// a valid perf record: a truncated header, a size that overruns what the
// kernel published, or a sample whose raw length does not fit its record. The
// kernel never writes such a ring; seeing one means the ring was overwritten
// from user space or the reader lost its place.
var ErrCorruptRecord = errors.New("corrupt perf record")

// ErrUnknownRecord means a well-formed record of a type other than
// PERF_RECORD_SAMPLE and PERF_RECORD_LOST. The record is skipped; reading can
// continue.
var ErrUnknownRecord = errors.New("unknown perf record type")

// Record is one record read from the ring of one CPU.
type Record struct {
	// CPU is the id of the CPU whose ring held the record (the map key).
	CPU int
	// RawSample is the payload of a PERF_RECORD_SAMPLE; empty for lost records.
	// Its length is the raw size the kernel reports: the bytes the program
	// passed plus the padding that makes the 4-byte size field and the data
	// end on an 8-byte boundary (8 bytes from BPF arrive as 12). The padding's
	// content is whatever the ring held before.
	RawSample []byte
	// LostSamples is the count from a PERF_RECORD_LOST; 0 for samples.
	LostSamples uint64
}

const (
	// headerSize is sizeof(struct perf_event_header): u32 type, u16 misc, u16 size.
	headerSize = 8
	// sampleFixedSize is the header plus the u32 size of PERF_SAMPLE_RAW.
	sampleFixedSize = headerSize + 4
	// lostSize is the header plus u64 id and u64 lost.
	lostSize = headerSize + 16
)

// ringBuffer is the data area of a perf ring. Positions are the kernel's
// free-running 64-bit byte counters; the byte at position p lives at
// data[p & mask]. len(data) must be a power of two.
type ringBuffer struct {
	data []byte
	mask uint64
	base unsafe.Pointer // &data[0], for contiguousSample
}

func newRingBuffer(data []byte) ringBuffer {
	return ringBuffer{data: data, mask: uint64(len(data)) - 1, base: unsafe.Pointer(unsafe.SliceData(data))}
}

// copyOut fills dst with the bytes starting at position pos, taking the second
// half from the start of the ring when the range wraps its end.
func (b ringBuffer) copyOut(dst []byte, pos uint64) {
	n := copy(dst, b.data[pos&b.mask:])
	for n < len(dst) {
		// Only rings smaller than dst wrap more than once; the parser never
		// asks for more than the ring holds, but stay correct regardless.
		n += copy(dst[n:], b.data)
	}
}

func (b ringBuffer) uint16At(pos uint64) uint16 {
	if off := pos & b.mask; off+2 <= uint64(len(b.data)) {
		return binary.NativeEndian.Uint16(b.data[off:])
	}
	var tmp [2]byte
	b.copyOut(tmp[:], pos)
	return binary.NativeEndian.Uint16(tmp[:])
}

func (b ringBuffer) uint32At(pos uint64) uint32 {
	if off := pos & b.mask; off+4 <= uint64(len(b.data)) {
		return binary.NativeEndian.Uint32(b.data[off:])
	}
	var tmp [4]byte
	b.copyOut(tmp[:], pos)
	return binary.NativeEndian.Uint32(tmp[:])
}

func (b ringBuffer) uint64At(pos uint64) uint64 {
	if off := pos & b.mask; off+8 <= uint64(len(b.data)) {
		return binary.NativeEndian.Uint64(b.data[off:])
	}
	var tmp [8]byte
	b.copyOut(tmp[:], pos)
	return binary.NativeEndian.Uint64(tmp[:])
}

// parse decodes the record at position tail, given that the kernel has
// published data up to head, into rec (CPU is left alone). It returns the
// position just past the record. rec.RawSample's capacity is reused.
//
// On ErrUnknownRecord the returned position skips the record. On
// ErrCorruptRecord the returned position is tail: there is no way to find the
// next record boundary, and the caller decides what to discard.
func (b ringBuffer) parse(head, tail uint64, rec *Record) (uint64, error) {
	d, err := b.decode(head, tail)
	if err != nil {
		return d.next, err
	}
	if d.lost {
		rec.RawSample = rec.RawSample[:0]
		rec.LostSamples = d.count
		return d.next, nil
	}
	if uint64(cap(rec.RawSample)) < d.count {
		rec.RawSample = make([]byte, d.count)
	} else {
		rec.RawSample = rec.RawSample[:d.count]
	}
	b.copyOut(rec.RawSample, tail+sampleFixedSize)
	rec.LostSamples = 0
	return d.next, nil
}

// view is parse without the copy, for Reader.ReadFunc: rec.RawSample points
// into the ring when the raw data is contiguous, and into *scratch (grown as
// needed, then reused) when it wraps the end of the ring. Either way its
// capacity is its length, so an append by the caller copies instead of
// writing over the ring. A lost record gets a nil RawSample.
func (b ringBuffer) view(head, tail uint64, rec *Record, scratch *[]byte) (uint64, error) {
	d, err := b.decode(head, tail)
	if err != nil {
		return d.next, err
	}
	if d.lost {
		rec.RawSample = nil
		rec.LostSamples = d.count
		return d.next, nil
	}
	rec.LostSamples = 0
	if off := (tail + sampleFixedSize) & b.mask; off+d.count <= uint64(len(b.data)) {
		rec.RawSample = b.data[off : off+d.count : off+d.count]
		return d.next, nil
	}
	if uint64(cap(*scratch)) < d.count {
		*scratch = make([]byte, d.count)
	}
	rec.RawSample = (*scratch)[:d.count:d.count]
	b.copyOut(rec.RawSample, tail+sampleFixedSize)
	return d.next, nil
}

// contiguousSample is the fast path of ReadFunc: when the record at tail is
// a well-formed PERF_RECORD_SAMPLE lying whole in the ring (no wrap), it
// returns a pointer to its raw data in place, the raw data's length and the
// record's size. For anything else (wraps, lost records, anything
// suspicious) raw is nil, and decode validates and explains.
//
// It reads the header through unsafe pointers, bounds checked once here
// rather than per field, and returns a pointer and a length rather than a
// slice, and takes base and mask rather than the ringBuffer: all three keep
// it within the inliner's budget and the caller's loop in registers, which
// took the loop's CPU per record from 6.5 to 4.1 ns at 8 B in BenchmarkLoop
// (docs/PERFORMANCE.md).
func contiguousSample(base unsafe.Pointer, mask, tail, head uint64) (raw unsafe.Pointer, rawLen, size uint64) {
	// The fixed part must lie in the mapping before it is read; whether it
	// was published is checked with the size (size >= it and <= head-tail).
	off, end := tail&mask, mask+1
	if off+sampleFixedSize > end {
		return nil, 0, 0
	}
	p := unsafe.Add(base, off)
	size = uint64(*(*uint16)(unsafe.Add(p, 6)))
	rawLen = uint64(*(*uint32)(unsafe.Add(p, headerSize)))
	// rawLen+sampleFixedSize <= size also says size covers the fixed part.
	if *(*uint32)(p) != unix.PERF_RECORD_SAMPLE || rawLen+sampleFixedSize > size || size > head-tail ||
		off+size > end {
		return nil, 0, 0
	}
	return unsafe.Add(p, sampleFixedSize), rawLen, size
}

// decoded is what decode found at a position.
type decoded struct {
	next  uint64 // position just past the record (see parse for errors)
	lost  bool   // PERF_RECORD_LOST; otherwise PERF_RECORD_SAMPLE
	count uint64 // lost: samples lost; sample: raw bytes, which follow the fixed part
}

// decode validates the record at tail against head and the ring and says
// what it is; parse and view differ only in where they put the sample.
func (b ringBuffer) decode(head, tail uint64) (decoded, error) {
	avail := head - tail
	switch {
	case avail > uint64(len(b.data)):
		return decoded{next: tail}, fmt.Errorf("%w: %d bytes between tail %d and head %d exceed the ring's %d bytes",
			ErrCorruptRecord, avail, tail, head, len(b.data))
	case avail < headerSize:
		return decoded{next: tail}, fmt.Errorf("%w: %d bytes at tail %d are too few for a record header", ErrCorruptRecord, avail, tail)
	}

	typ := b.uint32At(tail)
	size := uint64(b.uint16At(tail + 6))
	switch {
	case size < headerSize:
		return decoded{next: tail}, fmt.Errorf("%w: record at %d claims %d bytes, less than its header", ErrCorruptRecord, tail, size)
	case size > avail:
		return decoded{next: tail}, fmt.Errorf("%w: record at %d claims %d bytes but only %d are published", ErrCorruptRecord, tail, size, avail)
	}

	switch typ {
	case unix.PERF_RECORD_SAMPLE:
		if size < sampleFixedSize {
			return decoded{next: tail}, fmt.Errorf("%w: sample at %d has %d bytes, too few for its raw size field", ErrCorruptRecord, tail, size)
		}
		n := uint64(b.uint32At(tail + headerSize))
		if n > size-sampleFixedSize {
			return decoded{next: tail}, fmt.Errorf("%w: sample at %d claims %d raw bytes in a %d-byte record", ErrCorruptRecord, tail, n, size)
		}
		return decoded{next: tail + size, count: n}, nil

	case unix.PERF_RECORD_LOST:
		if size < lostSize {
			return decoded{next: tail}, fmt.Errorf("%w: lost record at %d has %d bytes, want %d", ErrCorruptRecord, tail, size, lostSize)
		}
		return decoded{next: tail + size, lost: true, count: b.uint64At(tail + headerSize + 8)}, nil
	}
	return decoded{next: tail + size}, fmt.Errorf("%w: type %d (%d bytes) at %d", ErrUnknownRecord, typ, size, tail)
}
