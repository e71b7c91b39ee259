package perfring

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// synthRing builds a ring buffer in memory the way the kernel fills one:
// records written at free-running positions, wrapping the end of data.
type synthRing struct {
	data []byte
	head uint64
}

func newSynthRing(size int, start uint64) *synthRing {
	return &synthRing{data: make([]byte, size), head: start}
}

func (s *synthRing) write(p []byte) {
	for i, c := range p {
		s.data[(s.head+uint64(i))%uint64(len(s.data))] = c
	}
	s.head += uint64(len(p))
}

func header(typ uint32, size uint16) []byte {
	h := make([]byte, headerSize)
	binary.NativeEndian.PutUint32(h[0:], typ)
	binary.NativeEndian.PutUint16(h[4:], 0) // misc
	binary.NativeEndian.PutUint16(h[6:], size)
	return h
}

// sample is a PERF_RECORD_SAMPLE with raw payload p, padded to 8 bytes the
// way perf_prepare_sample pads PERF_SAMPLE_RAW (the padding is counted in the
// raw size).
func sample(p []byte) []byte {
	raw := (len(p)+4+7)&^7 - 4
	rec := header(unix.PERF_RECORD_SAMPLE, uint16(sampleFixedSize+raw))
	rec = binary.NativeEndian.AppendUint32(rec, uint32(raw))
	rec = append(rec, p...)
	return append(rec, make([]byte, raw-len(p))...)
}

func lost(id, n uint64) []byte {
	rec := header(unix.PERF_RECORD_LOST, lostSize)
	rec = binary.NativeEndian.AppendUint64(rec, id)
	return binary.NativeEndian.AppendUint64(rec, n)
}

func padded(p []byte) []byte {
	return append(bytes.Clone(p), make([]byte, (len(p)+4+7)&^7-4-len(p))...)
}

func seq(n int, first byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = first + byte(i)
	}
	return p
}

func TestParse(t *testing.T) {
	type want struct {
		raw  []byte
		lost uint64
	}
	tests := []struct {
		name    string
		size    int    // ring bytes
		start   uint64 // position of the first record
		records [][]byte
		want    []want
	}{
		{"one sample", 64, 0, [][]byte{sample(seq(8, 1))}, []want{{raw: padded(seq(8, 1))}}},
		{"unpadded sample", 64, 0, [][]byte{sample(seq(4, 1))}, []want{{raw: seq(4, 1)}}},
		{"empty sample", 64, 0, [][]byte{sample(nil)}, []want{{raw: padded(nil)}}},
		{"lost", 64, 0, [][]byte{lost(7, 42)}, []want{{lost: 42}}},
		{
			"several", 256, 0,
			[][]byte{sample(seq(8, 1)), lost(1, 3), sample(seq(20, 100)), sample(seq(1, 9))},
			[]want{{raw: padded(seq(8, 1))}, {lost: 3}, {raw: padded(seq(20, 100))}, {raw: padded(seq(1, 9))}},
		},
		// Data wraps the end: the 24-byte record starts 16 bytes before it.
		{"data wraps end", 64, 48, [][]byte{sample(seq(12, 1))}, []want{{raw: seq(12, 1)}}},
		// The raw size field sits across the end (only possible for
		// unaligned positions, which the kernel never produces).
		{"size field wraps end", 64, 62, [][]byte{sample(seq(12, 1))}, []want{{raw: seq(12, 1)}}},
		{"header wraps end", 64, 60, [][]byte{sample(seq(12, 1))}, []want{{raw: seq(12, 1)}}},
		{"lost count wraps end", 64, 56, [][]byte{lost(5, 1<<40+3)}, []want{{lost: 1<<40 + 3}}},
		{
			"positions wrap uint64", 64, ^uint64(0) - 15,
			[][]byte{sample(seq(8, 1)), sample(seq(8, 50))},
			[]want{{raw: padded(seq(8, 1))}, {raw: padded(seq(8, 50))}},
		},
		{"sample fills ring", 64, 8, [][]byte{sample(seq(52, 1))}, []want{{raw: seq(52, 1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSynthRing(tt.size, tt.start)
			for _, r := range tt.records {
				s.write(r)
			}
			b := newRingBuffer(s.data)
			tail := tt.start
			var rec Record
			for i, w := range tt.want {
				next, err := b.parse(s.head, tail, &rec)
				if err != nil {
					t.Fatalf("record %d at %d: %v", i, tail, err)
				}
				if got, want := next-tail, uint64(len(tt.records[i])); got != want {
					t.Errorf("record %d: consumed %d bytes, want %d", i, got, want)
				}
				if !bytes.Equal(rec.RawSample, w.raw) {
					t.Errorf("record %d: RawSample = %v, want %v", i, rec.RawSample, w.raw)
				}
				if rec.LostSamples != w.lost {
					t.Errorf("record %d: LostSamples = %d, want %d", i, rec.LostSamples, w.lost)
				}
				tail = next
			}
			if tail != s.head {
				t.Errorf("stopped at %d, head is %d", tail, s.head)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		records  [][]byte
		head     int // bytes published; -1 = all written
		wantErr  error
		wantNext int // bytes consumed
	}{
		{"truncated header", [][]byte{sample(seq(8, 1))}, 5, ErrCorruptRecord, 0},
		{"record beyond head", [][]byte{sample(seq(8, 1))}, 16, ErrCorruptRecord, 0},
		{"size below header", [][]byte{header(unix.PERF_RECORD_SAMPLE, 4)}, -1, ErrCorruptRecord, 0},
		{"zero size", [][]byte{header(unix.PERF_RECORD_SAMPLE, 0), make([]byte, 16)}, -1, ErrCorruptRecord, 0},
		{"sample without raw size", [][]byte{header(unix.PERF_RECORD_SAMPLE, 8)}, -1, ErrCorruptRecord, 0},
		{
			"raw size beyond record",
			[][]byte{header(unix.PERF_RECORD_SAMPLE, 16), binary.NativeEndian.AppendUint32(nil, 5), make([]byte, 4)},
			-1, ErrCorruptRecord, 0,
		},
		{
			"raw size huge",
			[][]byte{header(unix.PERF_RECORD_SAMPLE, 16), binary.NativeEndian.AppendUint32(nil, 0xffffffff), make([]byte, 4)},
			-1, ErrCorruptRecord, 0,
		},
		{"short lost", [][]byte{header(unix.PERF_RECORD_LOST, 16), make([]byte, 8)}, -1, ErrCorruptRecord, 0},
		{"head beyond ring", [][]byte{sample(seq(8, 1))}, 200, ErrCorruptRecord, 0},
		{
			"unknown type is skipped",
			[][]byte{header(unix.PERF_RECORD_THROTTLE, 24), make([]byte, 16)},
			-1, ErrUnknownRecord, 24,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSynthRing(128, 0)
			for _, r := range tt.records {
				s.write(r)
			}
			head := s.head
			if tt.head >= 0 {
				head = uint64(tt.head)
			}
			var rec Record
			next, err := newRingBuffer(s.data).parse(head, 0, &rec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parse = %v, want %v", err, tt.wantErr)
			}
			if next != uint64(tt.wantNext) {
				t.Errorf("next = %d, want %d", next, tt.wantNext)
			}
		})
	}
}

// TestParseReusesRawSample checks the zero-allocation contract of ReadInto at
// the parser: a RawSample with enough capacity is reused, including for a
// record that wraps the end.
func TestParseReusesRawSample(t *testing.T) {
	s := newSynthRing(64, 40)
	s.write(sample(seq(36, 1))) // 48 bytes from 40: wraps
	b := newRingBuffer(s.data)
	rec := Record{RawSample: make([]byte, 0, 64)}
	backing := &rec.RawSample[:1][0]
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := b.parse(s.head, 40, &rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("parse allocates %v times per record", allocs)
	}
	if &rec.RawSample[0] != backing {
		t.Error("parse replaced a RawSample that had enough capacity")
	}
	if !bytes.Equal(rec.RawSample, seq(36, 1)) {
		t.Errorf("RawSample = %v", rec.RawSample)
	}
}

// FuzzParse feeds arbitrary ring contents and positions to the parser: it must
// never panic, never read past what it was told is published, and always make
// progress or report corruption.
func FuzzParse(f *testing.F) {
	s := newSynthRing(64, 48)
	s.write(sample(seq(12, 1)))
	s.write(lost(1, 2))
	f.Add(s.data, s.head, uint64(48))
	f.Add(sample(seq(8, 1)), uint64(24), uint64(0))
	f.Add(header(unix.PERF_RECORD_SAMPLE, 0), uint64(8), uint64(0))
	f.Add(make([]byte, 16), ^uint64(0), uint64(3))

	f.Fuzz(func(t *testing.T, data []byte, head, tail uint64) {
		if len(data) == 0 {
			return
		}
		size := 1
		for size*2 <= len(data) {
			size *= 2
		}
		b := newRingBuffer(data[:size])
		var rec Record
		for range size {
			if tail == head {
				return
			}
			next, err := b.parse(head, tail, &rec)
			switch {
			case errors.Is(err, ErrCorruptRecord):
				if next != tail {
					t.Fatalf("corrupt record at %d moved tail to %d", tail, next)
				}
				return
			case err != nil && !errors.Is(err, ErrUnknownRecord):
				t.Fatalf("parse at %d: unexpected error %v", tail, err)
			}
			used := next - tail
			if used < headerSize || used > head-tail || used > uint64(size) {
				t.Fatalf("record at %d consumed %d bytes; %d published, ring %d", tail, used, head-tail, size)
			}
			if err == nil && uint64(len(rec.RawSample)) > used-sampleFixedSize {
				t.Fatalf("record at %d: %d raw bytes from a %d-byte record", tail, len(rec.RawSample), used)
			}
			tail = next
		}
	})
}

// TestView checks where ReadFunc's records point: into the ring when the raw
// data is contiguous, into the scratch buffer (reused) when it wraps, with
// capacity = length either way so an append cannot write into the ring.
func TestView(t *testing.T) {
	// Records are written one at a time and viewed before the next.
	s := newSynthRing(64, 0)
	b := newRingBuffer(s.data)
	var scratch []byte
	var rec Record
	inRing := func(p []byte) bool {
		for i := range s.data {
			if len(p) > 0 && &p[0] == &s.data[i] {
				return true
			}
		}
		return false
	}
	tail := uint64(0)
	for i, w := range []struct {
		record  []byte
		raw     []byte
		lost    uint64
		scratch bool
	}{
		{record: sample(seq(12, 1)), raw: seq(12, 1)},                        // 0..24
		{record: sample(seq(20, 50)), raw: padded(seq(20, 50))},              // 24..56
		{record: lost(3, 9), lost: 9},                                        // 56..80: wraps
		{record: sample(seq(20, 90)), raw: padded(seq(20, 90))},              // 80..112 = 16..48
		{record: sample(seq(20, 7)), raw: padded(seq(20, 7)), scratch: true}, // 112..144 = 48..80: data wraps
	} {
		s.write(w.record)
		next, err := b.view(s.head, tail, &rec, &scratch)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		tail = next
		if !bytes.Equal(rec.RawSample, w.raw) || rec.LostSamples != w.lost {
			t.Errorf("record %d: RawSample %v lost %d, want %v lost %d", i, rec.RawSample, rec.LostSamples, w.raw, w.lost)
		}
		if cap(rec.RawSample) != len(rec.RawSample) {
			t.Errorf("record %d: capacity %d > length %d", i, cap(rec.RawSample), len(rec.RawSample))
		}
		switch {
		case w.lost > 0 && rec.RawSample != nil:
			t.Errorf("record %d: lost record with RawSample %v", i, rec.RawSample)
		case w.lost == 0 && !w.scratch && !inRing(rec.RawSample):
			t.Errorf("record %d: contiguous sample was copied", i)
		case w.scratch && (inRing(rec.RawSample) || &rec.RawSample[0] != &scratch[0]):
			t.Errorf("record %d: wrapped sample not in the scratch buffer", i)
		}
	}
	if tail != s.head {
		t.Errorf("stopped at %d, head %d", tail, s.head)
	}
	// The scratch buffer is reused for the next wrapped sample.
	backing := &scratch[0]
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := b.view(s.head, 112, &rec, &scratch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || &scratch[0] != backing {
		t.Errorf("view allocates %v times per wrapped record or replaced the scratch buffer", allocs)
	}
}

// TestContiguousSample: the fast path takes exactly the well-formed samples
// that lie whole in the ring, as decode reads them, and leaves everything
// else to decode.
func TestContiguousSample(t *testing.T) {
	corrupt := func(rec []byte, at int, v uint32) []byte {
		rec = bytes.Clone(rec)
		binary.NativeEndian.PutUint32(rec[at:], v)
		return rec
	}
	good := sample(seq(12, 1)) // 24 bytes, raw 12
	for _, tt := range []struct {
		name    string
		start   uint64 // where the ring's positions start (wraps at 64)
		record  []byte
		publish int // bytes of it published (head - tail); 0 = all
		want    []byte
	}{
		{name: "contiguous sample", record: good, want: seq(12, 1)},
		{name: "padded sample", record: sample(seq(20, 50)), want: padded(seq(20, 50))},
		{name: "sample ending at the ring's end", start: 40, record: good, want: seq(12, 1)},
		{name: "sample wrapping the end", start: 48, record: good},
		{name: "fixed part wrapping the end", start: 56, record: good},
		{name: "lost record", record: lost(3, 9)},
		{name: "unknown type", record: corrupt(good, 0, 99)},
		{name: "not yet published", record: good, publish: 16},
		{name: "raw size beyond the record", record: corrupt(good, 8, 13)},
		{name: "size below the fixed part", record: binary.NativeEndian.AppendUint32(header(unix.PERF_RECORD_SAMPLE, 8), 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSynthRing(64, tt.start)
			s.write(tt.record)
			b := newRingBuffer(s.data)
			head := s.head
			if tt.publish > 0 {
				head = tt.start + uint64(tt.publish)
			}
			raw, rawLen, size := contiguousSample(b.base, b.mask, tt.start, head)
			if tt.want == nil {
				if raw != nil {
					t.Fatalf("fast path took it: %d raw bytes, size %d", rawLen, size)
				}
				return
			}
			if raw == nil {
				t.Fatal("fast path refused a contiguous sample")
			}
			got := unsafe.Slice((*byte)(raw), rawLen)
			var rec Record
			next, err := b.parse(head, tt.start, &rec)
			if err != nil || !bytes.Equal(got, tt.want) || !bytes.Equal(got, rec.RawSample) || tt.start+size != next {
				t.Errorf("fast path: % x (size %d); decode: % x next %d, %v; want % x", got, size, rec.RawSample, next, err, tt.want)
			}
		})
	}
}
