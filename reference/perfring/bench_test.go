package perfring_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/reference/perfring"
)

// BenchmarkReadInto measures the reader alone: the program fills every
// online CPU's ring while the timer is stopped (so neither its syscalls nor
// its allocations count), then ReadInto drains the rings, one record per
// iteration. samples/s is b.N over the timed part; allocs/op must be 0.
//
//	go test -run '^$' -bench BenchmarkReadInto -benchtime 2000000x ./reference/perfring/
func BenchmarkReadInto(b *testing.B) { benchmarkDrain(b, false) }

// BenchmarkReadFunc is BenchmarkReadInto through ReadFunc: one iteration is
// one record (ReadFunc is called until b.N records have been passed to the
// callback, which only checks the length, i.e. reads nothing but the header).
//
//	go test -run '^$' -bench BenchmarkReadFunc -benchtime 2000000x ./reference/perfring/
func BenchmarkReadFunc(b *testing.B) { benchmarkDrain(b, true) }

func benchmarkDrain(b *testing.B, batch bool) {
	requireRoot(b)
	cpus := onlineCPUs(b)
	for _, bc := range []struct {
		size int
		new  func(testing.TB, *ebpf.Map, int) *emitter
	}{
		{8, newStackEmitter},
		{256, newStackEmitter},
		{4096, newMapEmitter}, // more than the 512-byte stack holds
	} {
		b.Run(fmt.Sprintf("size=%d", bc.size), func(b *testing.B) {
			const pages = 256 // 1 MiB per CPU
			m := newPerfArray(b)
			e := bc.new(b, m, bc.size)
			rd := newReader(b, m, cpus, perfring.Options{Pages: pages})

			recordSize := 8 + 4 + rawLen(bc.size)
			perCPU := min(maxEmit, pages*os.Getpagesize()/recordSize-1)
			var rec perfring.Record
			pending := 0
			want := rawLen(bc.size)
			var bad *perfring.Record
			fn := func(r *perfring.Record) bool {
				if len(r.RawSample) != want && bad == nil {
					bad = &perfring.Record{CPU: r.CPU, LostSamples: r.LostSamples, RawSample: r.RawSample[:0:0]}
				}
				pending--
				return true
			}

			b.ReportAllocs()
			b.SetBytes(int64(bc.size))
			b.ResetTimer()
			for done := 0; done < b.N; {
				if pending == 0 {
					b.StopTimer()
					for _, cpu := range cpus {
						if ret := e.emit(b, cpu, perCPU); ret != 0 {
							b.Fatalf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
						}
					}
					pending = perCPU * len(cpus)
					rd.SetDeadline(time.Now().Add(10 * time.Second))
					b.StartTimer()
				}
				if batch {
					// A call drains whole rings: pending stays a multiple of
					// the fill, so done may pass b.N by less than one fill.
					n, err := rd.ReadFunc(fn)
					if err != nil {
						b.Fatal(err)
					}
					if bad != nil {
						b.Fatalf("CPU %d: a record other than a %d-byte sample (lost %d)", bad.CPU, want, bad.LostSamples)
					}
					done += n
					continue
				}
				if err := rd.ReadInto(&rec); err != nil {
					b.Fatal(err)
				}
				if len(rec.RawSample) != want {
					b.Fatalf("CPU %d: %d raw bytes (lost %d), want %d", rec.CPU, len(rec.RawSample), rec.LostSamples, want)
				}
				pending--
				done++
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
