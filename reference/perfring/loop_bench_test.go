package perfring

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkLoop times ReadFunc's per-record loop (readBatch: the fast path
// and a call of fn per record) on a ring in memory filled with samples, no
// kernel involved: what is left of the drain cost once epoll and the
// producers are out of the picture, and far less disturbed by other load on
// the machine than the drain benchmarks.
// ns/op is per record; cpu-ns/op is the same from the thread's CPU clock,
// which time spent preempted by other processes does not inflate.
//
//	go test -run '^$' -bench BenchmarkLoop ./reference/perfring/
func BenchmarkLoop(b *testing.B) {
	for _, size := range []int{8, 256} {
		rec := sample(make([]byte, size))
		const ringSize = 1 << 20
		s := newSynthRing(ringSize, 0)
		perRing := (ringSize - 1) / len(rec)
		for range perRing {
			s.write(rec)
		}
		var meta unix.PerfEventMmapPage
		r := &ring{cpu: 1, buf: newRingBuffer(s.data), meta: &meta}
		rd := &Reader{mapName: "bench"}
		want := len(rec) - sampleFixedSize
		drain := func(b *testing.B, one func() int) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu0 := threadCPU()
			for done := 0; done < b.N; {
				if r.tail == r.head {
					r.tail, r.head = 0, s.head
				}
				done += one()
			}
			b.ReportMetric(float64(threadCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		}
		b.Run(fmt.Sprintf("func/size=%d", size), func(b *testing.B) {
			count := 0
			fn := func(rec *Record) bool {
				if len(rec.RawSample) == want {
					count++
				}
				return true
			}
			drain(b, func() int {
				n, _, err := rd.readBatch(r, fn)
				if err != nil {
					b.Fatal(err)
				}
				return n
			})
		})
	}
}

func threadCPU() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}
