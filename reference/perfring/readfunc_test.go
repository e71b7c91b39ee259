package perfring_test

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/perfconform/perfconform/reference/perfring"
)

// readFuncN calls ReadFunc until n records have been passed to check, failing
// the test if they do not arrive within 10s. check sees each record while it
// is valid (during the callback) and returns whether to go on.
func readFuncN(tb testing.TB, rd *perfring.Reader, n int, check func(rec *perfring.Record)) {
	tb.Helper()
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	defer rd.SetDeadline(time.Time{})
	got := 0
	for got < n {
		k, err := rd.ReadFunc(func(rec *perfring.Record) bool {
			if got < n {
				check(rec)
			}
			got++
			return true
		})
		if err != nil {
			tb.Fatalf("after %d of %d records: %v", got, n, err)
		}
		if k == 0 {
			tb.Fatalf("ReadFunc returned 0 records and no error after %d of %d", got, n)
		}
	}
	if got != n {
		tb.Fatalf("got %d records, want %d", got, n)
	}
}

// expectFuncEmpty fails if ReadFunc finds a record before a short deadline.
func expectFuncEmpty(tb testing.TB, rd *perfring.Reader) {
	tb.Helper()
	rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
	defer rd.SetDeadline(time.Time{})
	n, err := rd.ReadFunc(func(rec *perfring.Record) bool { return true })
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("expected no more records, got %d, %v", n, err)
	}
}

// TestReadFuncSamples is TestSamplesFromEveryOnlineCPU through ReadFunc:
// 4 pages hold 3 records of 4 KiB, so rounds of 3 make records wrap the end
// of the ring (those come from the scratch buffer, the others from the ring).
func TestReadFuncSamples(t *testing.T) {
	requireRoot(t)
	for _, tt := range emitterCases {
		t.Run(tt.name, func(t *testing.T) {
			m := newPerfArray(t)
			e := tt.new(t, m, tt.size)
			cpus := onlineCPUs(t)
			rd := newReader(t, m, cpus, perfring.Options{Pages: 4})
			const perRound = 3
			for round := range 5 {
				for _, cpu := range cpus {
					if ret := e.emit(t, cpu, perRound); ret != 0 {
						t.Fatalf("round %d: bpf_perf_event_output on CPU %d returned %d", round, cpu, ret)
					}
				}
				next := map[int]int{}
				readFuncN(t, rd, perRound*len(cpus), func(rec *perfring.Record) {
					if rec.LostSamples != 0 {
						t.Fatalf("CPU %d lost %d samples", rec.CPU, rec.LostSamples)
					}
					if cap(rec.RawSample) != len(rec.RawSample) {
						t.Fatalf("RawSample has capacity %d beyond its %d bytes: an append would write into the ring", cap(rec.RawSample), len(rec.RawSample))
					}
					e.checkSample(t, rec.RawSample, rec.CPU, next[rec.CPU])
					next[rec.CPU]++
				})
				for _, cpu := range cpus {
					if next[cpu] != perRound {
						t.Errorf("round %d: %d samples from CPU %d, want %d", round, next[cpu], cpu, perRound)
					}
				}
			}
			expectFuncEmpty(t, rd)
		})
	}
}

func TestReadFuncLostSamples(t *testing.T) {
	requireRoot(t)
	cpu := onlineCPUs(t)[0]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{cpu}, perfring.Options{Pages: 1})

	const emitted = 400 // one page holds 170 records of 24 bytes
	dropped := 0
	for range emitted {
		switch ret := e.emit(t, cpu, 1); ret {
		case 0:
		case errnoENOSPC:
			dropped++
		default:
			t.Fatalf("bpf_perf_event_output = %d", ret)
		}
	}
	if dropped == 0 {
		t.Fatalf("no sample was dropped: the ring did not fill up")
	}
	readFuncN(t, rd, emitted-dropped, func(rec *perfring.Record) {
		if rec.LostSamples != 0 {
			t.Fatalf("lost record before the ring had room: %d lost", rec.LostSamples)
		}
		e.checkSample(t, rec.RawSample, cpu, 0)
	})
	expectFuncEmpty(t, rd)

	if ret := e.emit(t, cpu, 1); ret != 0 {
		t.Fatalf("after draining: bpf_perf_event_output = %d", ret)
	}
	i := 0
	readFuncN(t, rd, 2, func(rec *perfring.Record) {
		switch i++; i {
		case 1:
			if rec.CPU != cpu || rec.LostSamples != uint64(dropped) || rec.RawSample != nil {
				t.Errorf("lost record = CPU %d, %d lost, %d raw bytes; want CPU %d, %d lost, nil", rec.CPU, rec.LostSamples, len(rec.RawSample), cpu, dropped)
			}
		case 2:
			e.checkSample(t, rec.RawSample, cpu, 0)
		}
	})
	expectFuncEmpty(t, rd)
}

// TestReadFuncPublishesTail fills a one-page ring to the brim (170 records
// of 24 bytes; the kernel keeps 1 byte free) and checks that the space
// comes back to the kernel when ReadFunc returns: after an early stop for
// exactly the records consumed, after a full read for all of them. The
// records left after the early stop come next, in order, also to ReadInto.
func TestReadFuncPublishesTail(t *testing.T) {
	requireRoot(t)
	cpu := onlineCPUs(t)[0]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{cpu}, perfring.Options{Pages: 1})
	perPage := (os.Getpagesize() - 1) / 24

	// fill writes k samples, which must all fit, then one that must not:
	// it is dropped and its lost record waits for the next sample.
	fill := func(k int) {
		t.Helper()
		if ret := e.emit(t, cpu, k); ret != 0 {
			t.Fatalf("writing %d samples: bpf_perf_event_output = %d (space not handed back?)", k, ret)
		}
		if ret := e.emit(t, cpu, 1); ret != errnoENOSPC {
			t.Fatalf("ring should be full after %d samples: bpf_perf_event_output = %d (space handed back twice?)", k, ret)
		}
	}
	fill(perPage)
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	defer rd.SetDeadline(time.Time{})

	const stopAt = 100
	seen := 0
	n, err := rd.ReadFunc(func(rec *perfring.Record) bool {
		e.checkSample(t, rec.RawSample, cpu, seen)
		seen++
		return seen < stopAt
	})
	if err != nil || n != stopAt || seen != stopAt {
		t.Fatalf("ReadFunc stopping at record %d = %d, %v (fn called %d times)", stopAt, n, err, seen)
	}
	// 100 records handed back; the pending lost record takes one slot.
	fill(stopAt - 1)

	var rec perfring.Record
	if err := rd.ReadInto(&rec); err != nil {
		t.Fatal(err)
	}
	e.checkSample(t, rec.RawSample, cpu, stopAt)
	next, lost := stopAt+1, uint64(0)
	readFuncN(t, rd, perPage-stopAt-1+1+stopAt-1, func(rec *perfring.Record) {
		if rec.LostSamples > 0 {
			if next != perPage {
				t.Fatalf("lost record after sample %d, want it after %d", next-1, perPage-1)
			}
			lost += rec.LostSamples
			next = 0 // the second fill numbers its samples from 0
			return
		}
		e.checkSample(t, rec.RawSample, cpu, next)
		next++
	})
	if lost != 1 || next != stopAt-1 {
		t.Errorf("%d lost and samples up to %d, want the 1 probe lost and samples up to %d", lost, next-1, stopAt-2)
	}
	// All handed back: a whole page but the pending lost record fits.
	fill(perPage - 1)
}

// TestReadFuncRoundRobin fills two rings; one ReadFunc call takes one batch
// from each, and a batch ends at the head seen when it started: samples the
// program writes while the callback runs wait for the next call.
func TestReadFuncRoundRobin(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	if len(cpus) < 2 {
		t.Skip("needs two online CPUs")
	}
	a, b := cpus[0], cpus[len(cpus)-1]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{a, b}, perfring.Options{Pages: 4})

	const n, extra = 100, 50
	for _, cpu := range []int{a, b} {
		if ret := e.emit(t, cpu, n); ret != 0 {
			t.Fatalf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
		}
	}
	// Both irq_work wakeups must land so the first epoll_wait reports both.
	time.Sleep(20 * time.Millisecond)

	rd.SetDeadline(time.Now().Add(10 * time.Second))
	count := map[int]int{}
	injected := false
	k, err := rd.ReadFunc(func(rec *perfring.Record) bool {
		if !injected {
			injected = true
			if ret := e.emit(t, rec.CPU, extra); ret != 0 {
				t.Errorf("CPU %d during the batch: bpf_perf_event_output = %d", rec.CPU, ret)
			}
		}
		e.checkSample(t, rec.RawSample, rec.CPU, count[rec.CPU])
		count[rec.CPU]++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if k != 2*n || count[a] != n || count[b] != n {
		t.Errorf("first call: %d records, %v; want %d from each of CPUs %d and %d, not the %d written meanwhile", k, count, n, a, b, extra)
	}
	clear(count)
	readFuncN(t, rd, extra, func(rec *perfring.Record) {
		e.checkSample(t, rec.RawSample, rec.CPU, count[rec.CPU])
		count[rec.CPU]++
	})
	expectFuncEmpty(t, rd)
}

func TestReadFuncDeadline(t *testing.T) {
	requireRoot(t)
	m := newPerfArray(t)
	rd := newReader(t, m, onlineCPUs(t), perfring.Options{Pages: 1})
	const wait = 50 * time.Millisecond
	start := time.Now()
	rd.SetDeadline(start.Add(wait))
	n, err := readFuncWithin(t, rd, 5*time.Second)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFunc = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
	}
	if elapsed := time.Since(start); elapsed < wait {
		t.Errorf("ReadFunc returned after %v, before the %v deadline", elapsed, wait)
	}
	rd.SetDeadline(time.Now().Add(-time.Second))
	if n, err := readFuncWithin(t, rd, 5*time.Second); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFunc with past deadline = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
}

// readFuncWithin runs one ReadFunc and fails the test if it has not returned
// after limit; the test's cleanup closes the reader, which frees it.
func readFuncWithin(t *testing.T, rd *perfring.Reader, limit time.Duration) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := rd.ReadFunc(func(*perfring.Record) bool { return true })
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(limit):
		t.Fatalf("ReadFunc still blocked after %v", limit)
		return 0, nil
	}
}

func TestCloseUnblocksReadFunc(t *testing.T) {
	requireRoot(t)
	m := newPerfArray(t)
	rd, err := perfring.New(m, onlineCPUs(t), perfring.Options{Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := rd.ReadFunc(func(*perfring.Record) bool { return true })
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("ReadFunc returned before Close: %d, %v", r.n, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- rd.Close() }()
	timeout := time.After(5 * time.Second)
	select {
	case r := <-done:
		if r.n != 0 || !errors.Is(r.err, perfring.ErrClosed) {
			t.Errorf("blocked ReadFunc = %d, %v; want 0, ErrClosed", r.n, r.err)
		}
	case <-timeout:
		t.Fatal("ReadFunc still blocked 5s after Close")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-timeout:
		t.Fatal("Close still running after 5s")
	}
	if n, err := rd.ReadFunc(func(*perfring.Record) bool { return true }); n != 0 || !errors.Is(err, perfring.ErrClosed) {
		t.Errorf("ReadFunc after Close = %d, %v; want ErrClosed", n, err)
	}
}

// TestReadFuncDoesNotAllocate: no allocation per call or per record in
// steady state, including records that wrap the end of the ring (14 records
// of 272 bytes per round in a 15-record page) and so come from the scratch
// buffer. Counted with MemStats around the reads only (writing the records
// allocates); AllocsPerRun's integer average would hide one allocation.
func TestReadFuncDoesNotAllocate(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 256)
	rd := newReader(t, m, cpus, perfring.Options{Pages: 1})
	const perRound = 14
	records, wrapped := 0, 0
	fn := func(rec *perfring.Record) bool {
		records++
		return len(rec.RawSample) > 0
	}
	fill := func() {
		for _, cpu := range cpus {
			if ret := e.emit(t, cpu, perRound); ret != 0 {
				t.Fatalf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
			}
		}
	}
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	// Warm up: the second round wraps and sizes the scratch buffer.
	for range 2 {
		fill()
		readFuncN(t, rd, perRound*len(cpus), func(*perfring.Record) {})
	}
	const rounds = 30
	var mallocs uint64
	for round := range rounds {
		fill()
		// A record wraps when the round's 14 records cross the page end.
		if pos := (round + 2) * perRound * 272 % os.Getpagesize(); pos+perRound*272 > os.Getpagesize() {
			wrapped++
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for want := records + perRound*len(cpus); records < want; {
			if _, err := rd.ReadFunc(fn); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		mallocs += after.Mallocs - before.Mallocs
	}
	if mallocs != 0 {
		t.Errorf("ReadFunc allocated %d times in %d records", mallocs, records)
	}
	if wrapped == 0 {
		t.Error("no round wrapped the ring: the scratch path was not measured")
	}
}
