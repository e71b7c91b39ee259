package perfring_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference/perfring"
)

const (
	errnoENOENT = -int32(unix.ENOENT) // no fd at the CPU's key
	errnoENOSPC = -int32(unix.ENOSPC) // ring full: the sample is counted as lost
)

func newReader(tb testing.TB, m *ebpf.Map, cpus []int, opts perfring.Options) *perfring.Reader {
	tb.Helper()
	rd, err := perfring.New(m, cpus, opts)
	if err != nil {
		tb.Fatalf("New(%v): %v", cpus, err)
	}
	tb.Cleanup(func() {
		if err := rd.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return rd
}

// readN reads n records, failing the test if they do not arrive within 10s.
func readN(tb testing.TB, rd *perfring.Reader, n int) []perfring.Record {
	tb.Helper()
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	defer rd.SetDeadline(time.Time{})
	recs := make([]perfring.Record, 0, n)
	for range n {
		rec, err := rd.Read()
		if err != nil {
			tb.Fatalf("after %d of %d records: %v", len(recs), n, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// expectEmpty fails if a record arrives before a short deadline.
func expectEmpty(tb testing.TB, rd *perfring.Reader) {
	tb.Helper()
	rd.SetDeadline(time.Now().Add(20 * time.Millisecond))
	defer rd.SetDeadline(time.Time{})
	rec, err := rd.Read()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("expected no more records, got %+v, %v", rec, err)
	}
}

func TestSamplesFromEveryOnlineCPU(t *testing.T) {
	requireRoot(t)
	for _, tt := range emitterCases {
		t.Run(tt.name, func(t *testing.T) {
			m := newPerfArray(t)
			e := tt.new(t, m, tt.size)
			cpus := onlineCPUs(t)
			// 4 data pages hold 3 records of 4 KiB: rounds of 3 make
			// records wrap the end of the ring.
			rd := newReader(t, m, cpus, perfring.Options{Pages: 4})
			if got := rd.CPUs(); fmt.Sprint(got) != fmt.Sprint(cpus) {
				t.Errorf("CPUs() = %v, want %v", got, cpus)
			}
			const perRound = 3
			for round := range 5 {
				for _, cpu := range cpus {
					if ret := e.emit(t, cpu, perRound); ret != 0 {
						t.Fatalf("round %d: bpf_perf_event_output on CPU %d returned %d", round, cpu, ret)
					}
				}
				next := map[int]int{}
				for _, rec := range readN(t, rd, perRound*len(cpus)) {
					if rec.LostSamples != 0 {
						t.Fatalf("CPU %d lost %d samples", rec.CPU, rec.LostSamples)
					}
					e.checkSample(t, rec.RawSample, rec.CPU, next[rec.CPU])
					next[rec.CPU]++
				}
				for _, cpu := range cpus {
					if next[cpu] != perRound {
						t.Errorf("round %d: %d samples from CPU %d, want %d", round, next[cpu], cpu, perRound)
					}
				}
			}
			expectEmpty(t, rd)
		})
	}
}

// TestRingIsStoredAtCPUKey opens a ring for the highest online CPU only. A
// reader that files rings by position would put it at key 0: then the
// program on that CPU finds no fd, and the one on CPU 0 finds a foreign one.
func TestRingIsStoredAtCPUKey(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	if len(cpus) < 2 {
		t.Skip("needs two online CPUs")
	}
	low, high := cpus[0], cpus[len(cpus)-1]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{high}, perfring.Options{Pages: 1})

	if ret := e.emit(t, high, 1); ret != 0 {
		t.Fatalf("CPU %d: bpf_perf_event_output = %d, want 0 (fd at key %d)", high, ret, high)
	}
	if ret := e.emit(t, low, 1); ret != errnoENOENT {
		t.Fatalf("CPU %d: bpf_perf_event_output = %d, want %d (key %d empty)", low, ret, errnoENOENT, low)
	}
	rec := readN(t, rd, 1)[0]
	if rec.CPU != high {
		t.Errorf("record from CPU %d, want %d", rec.CPU, high)
	}
	e.checkSample(t, rec.RawSample, high, 0)
}

func TestCloseDeletesEntries(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd, err := perfring.New(m, cpus, perfring.Options{Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, cpu := range cpus {
		if ret := e.emit(t, cpu, 1); ret != 0 {
			t.Fatalf("CPU %d before Close: bpf_perf_event_output = %d, want 0", cpu, ret)
		}
	}
	if err := rd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, cpu := range cpus {
		if ret := e.emit(t, cpu, 1); ret != errnoENOENT {
			t.Errorf("CPU %d after Close: bpf_perf_event_output = %d, want %d (entry deleted)", cpu, ret, errnoENOENT)
		}
	}
	if err := rd.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := rd.Read(); !errors.Is(err, perfring.ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
}

// TestCloseSurvivesClosedMap: the reader keeps its own handle on the map, so
// Close still deletes its entries after the caller closed theirs.
func TestCloseSurvivesClosedMap(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	other, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	rd, err := perfring.New(other, cpus, perfring.Options{Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := rd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ret := e.emit(t, cpus[0], 1); ret != errnoENOENT {
		t.Errorf("CPU %d after Close: bpf_perf_event_output = %d, want %d", cpus[0], ret, errnoENOENT)
	}
}

func TestLostSamples(t *testing.T) {
	requireRoot(t)
	cpu := onlineCPUs(t)[0]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{cpu}, perfring.Options{Pages: 1})

	// One page holds 170 records of 24 bytes; emit more without reading.
	const emitted = 400
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
	// Each run numbers its one sample 0; what arrived is emitted-dropped
	// samples, then nothing: the lost record waits for room and a sample.
	for _, rec := range readN(t, rd, emitted-dropped) {
		if rec.LostSamples != 0 {
			t.Fatalf("lost record before the ring had room: %+v", rec)
		}
		e.checkSample(t, rec.RawSample, cpu, 0)
	}
	expectEmpty(t, rd)

	if ret := e.emit(t, cpu, 1); ret != 0 {
		t.Fatalf("after draining: bpf_perf_event_output = %d", ret)
	}
	recs := readN(t, rd, 2)
	if recs[0].CPU != cpu || recs[0].LostSamples != uint64(dropped) || len(recs[0].RawSample) != 0 {
		t.Errorf("lost record = %+v, want CPU %d, %d lost, no sample", recs[0], cpu, dropped)
	}
	e.checkSample(t, recs[1].RawSample, cpu, 0)
	expectEmpty(t, rd)
}

func TestNewRejects(t *testing.T) {
	requireRoot(t)
	perf := newPerfArray(t)
	max := int(perf.MaxEntries())
	array, err := ebpf.NewMap(&ebpf.MapSpec{Name: "not_perf", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer array.Close()

	for _, tt := range []struct {
		name     string
		m        *ebpf.Map
		cpus     []int
		opts     perfring.Options
		wantErr  error
		wantText []string
	}{
		{"no CPUs", perf, []int{}, perfring.Options{Pages: 1}, perfring.ErrNoRings, []string{"perfring_test"}},
		{"nil CPUs", perf, nil, perfring.Options{Pages: 1}, perfring.ErrNoRings, nil},
		{"CPU = max_entries", perf, []int{0, max}, perfring.Options{Pages: 1}, perfring.ErrBadCPU,
			[]string{fmt.Sprintf("CPU %d", max), fmt.Sprintf("max_entries %d", max), "perfring_test"}},
		{"negative CPU", perf, []int{-1}, perfring.Options{Pages: 1}, perfring.ErrBadCPU, []string{"CPU -1"}},
		{"CPU twice", perf, []int{0, 0}, perfring.Options{Pages: 1}, perfring.ErrBadCPU, []string{"CPU 0 listed twice"}},
		{"3 pages", perf, []int{0}, perfring.Options{Pages: 3}, perfring.ErrBadPages, []string{"3 pages"}},
		{"0 pages", perf, []int{0}, perfring.Options{}, perfring.ErrBadPages, nil},
		{"negative pages", perf, []int{0}, perfring.Options{Pages: -2}, perfring.ErrBadPages, nil},
		{"watermark = ring", perf, []int{0}, perfring.Options{Pages: 1, Watermark: os.Getpagesize()}, perfring.ErrBadWatermark, nil},
		{"negative watermark", perf, []int{0}, perfring.Options{Pages: 1, Watermark: -1}, perfring.ErrBadWatermark, nil},
		{"array map", array, []int{0}, perfring.Options{Pages: 1}, perfring.ErrNotPerfEventArray, []string{"not_perf", "Array"}},
		{"nil map", nil, []int{0}, perfring.Options{Pages: 1}, perfring.ErrNotPerfEventArray, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := perfring.New(tt.m, tt.cpus, tt.opts)
			if err == nil {
				rd.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("New = %v, want %v", err, tt.wantErr)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestOpenFailureReleasesEverything asks for a ring on a CPU id the map can
// hold but the machine does not have: perf_event_open fails, the error names
// the CPU and errno, and the ring already set up for a real CPU is gone again.
func TestOpenFailureReleasesEverything(t *testing.T) {
	requireRoot(t)
	cpu := onlineCPUs(t)[0]
	missing := ebpf.MustPossibleCPU() + 8
	// cilium/ebpf clamps perf event arrays to the possible CPUs; create an
	// oversized one ourselves.
	fd, err := bpfsys.CreateMap(bpfsys.MapCreate{
		Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4,
		MaxEntries: uint32(missing + 1), Name: "perfring_big",
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ebpf.NewMapFromFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := newStackEmitter(t, m, 8)

	fdsBefore := openFDs(t)
	_, err = perfring.New(m, []int{cpu, missing}, perfring.Options{Pages: 1})
	if err == nil {
		t.Fatalf("New with CPU %d succeeded", missing)
	}
	t.Log(err)
	if want := fmt.Sprintf("perf ring for CPU %d: ", missing); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) || (errno != unix.EINVAL && errno != unix.ENODEV) {
		t.Errorf("error %q does not wrap EINVAL or ENODEV", err)
	}
	if ret := e.emit(t, cpu, 1); ret != errnoENOENT {
		t.Errorf("CPU %d after failed New: bpf_perf_event_output = %d, want %d (entry removed)", cpu, ret, errnoENOENT)
	}
	if fdsAfter := openFDs(t); fdsAfter != fdsBefore {
		t.Errorf("%d fds open after failed New, %d before", fdsAfter, fdsBefore)
	}
}

func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}

func TestDeadline(t *testing.T) {
	requireRoot(t)
	m := newPerfArray(t)
	rd := newReader(t, m, onlineCPUs(t), perfring.Options{Pages: 1})

	const wait = 50 * time.Millisecond
	start := time.Now()
	rd.SetDeadline(start.Add(wait))
	if err := readWithin(t, rd, 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < wait {
		t.Errorf("Read returned after %v, before the %v deadline", elapsed, wait)
	}

	rd.SetDeadline(time.Now().Add(-time.Second))
	if err := readWithin(t, rd, 5*time.Second); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with past deadline = %v, want os.ErrDeadlineExceeded", err)
	}
}

// readWithin reads one record and fails the test if Read has not returned
// after limit; the test's cleanup closes the reader, which frees the read.
func readWithin(t *testing.T, rd *perfring.Reader, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := rd.Read()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("Read still blocked after %v", limit)
		return nil
	}
}

// TestWatermark: with a watermark a lone sample does not wake the reader; it
// is returned when the deadline passes instead of being hidden.
func TestWatermark(t *testing.T) {
	requireRoot(t)
	cpu := onlineCPUs(t)[0]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{cpu}, perfring.Options{Pages: 1, Watermark: 2048})

	if ret := e.emit(t, cpu, 1); ret != 0 {
		t.Fatalf("bpf_perf_event_output = %d", ret)
	}
	const wait = 100 * time.Millisecond
	start := time.Now()
	rd.SetDeadline(start.Add(wait))
	rec, err := rd.Read()
	if err != nil {
		t.Fatalf("Read = %v, want the sample below the watermark", err)
	}
	if elapsed := time.Since(start); elapsed < wait {
		t.Errorf("woken after %v for 24 bytes below a 2048-byte watermark", elapsed)
	}
	e.checkSample(t, rec.RawSample, cpu, 0)

	// 100 records of 24 bytes cross the watermark: the reader wakes early.
	if ret := e.emit(t, cpu, 100); ret != 0 {
		t.Fatalf("bpf_perf_event_output = %d", ret)
	}
	start = time.Now()
	rd.SetDeadline(start.Add(10 * time.Second))
	if _, err := rd.Read(); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("not woken for 2400 bytes above a 2048-byte watermark (%v)", elapsed)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	requireRoot(t)
	m := newPerfArray(t)
	rd, err := perfring.New(m, onlineCPUs(t), perfring.Options{Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := rd.Read()
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Read returned before Close: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Close waits for the blocked Read to let go of the rings; run it aside
	// so a Read that never wakes fails the test instead of hanging it.
	closed := make(chan error, 1)
	go func() { closed <- rd.Close() }()
	timeout := time.After(5 * time.Second)
	select {
	case err := <-done:
		if !errors.Is(err, perfring.ErrClosed) {
			t.Errorf("blocked Read = %v, want ErrClosed", err)
		}
	case <-timeout:
		t.Fatal("Read still blocked 5s after Close")
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-timeout:
		t.Fatal("Close still running after 5s")
	}
}

// TestRoundRobin fills two rings and checks neither is drained before the
// other gets a turn.
func TestRoundRobin(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	if len(cpus) < 2 {
		t.Skip("needs two online CPUs")
	}
	a, b := cpus[0], cpus[len(cpus)-1]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{a, b}, perfring.Options{Pages: 4})

	const n = 100
	for _, cpu := range []int{a, b} {
		if ret := e.emit(t, cpu, n); ret != 0 {
			t.Fatalf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
		}
	}
	// The kernel wakes epoll from irq_work on the writing CPU; give both
	// wakeups time to land so the first epoll_wait reports both rings.
	time.Sleep(20 * time.Millisecond)

	recs := readN(t, rd, 2*n)
	count := map[int]int{}
	for i, rec := range recs {
		count[rec.CPU]++
		if i == n-1 && (count[a] < n/2-1 || count[b] < n/2-1) {
			t.Errorf("first %d records: %d from CPU %d, %d from CPU %d; want turns", n, count[a], a, count[b], b)
		}
	}
	if count[a] != n || count[b] != n {
		t.Errorf("got %v, want %d per CPU", count, n)
	}
}

// TestReadIntoDoesNotAllocate is the zero-allocation contract of ReadInto in
// steady state, checked on real rings.
func TestReadIntoDoesNotAllocate(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 256)
	rd := newReader(t, m, cpus, perfring.Options{Pages: 64})
	for _, cpu := range cpus {
		if ret := e.emit(t, cpu, 400); ret != 0 {
			t.Fatalf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
		}
	}
	rd.SetDeadline(time.Now().Add(10 * time.Second))
	var rec perfring.Record
	allocs := testing.AllocsPerRun(300, func() {
		if err := rd.ReadInto(&rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadInto allocates %v times per record", allocs)
	}
}

// TestConcurrentProducers reads while programs write on every CPU into small
// rings that wrap and overflow all the time: every sample must arrive intact
// and exactly once, and every dropped one must be reported as lost.
func TestConcurrentProducers(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 256) // 272-byte records: 15 per page
	rd := newReader(t, m, cpus, perfring.Options{Pages: 1})

	const runs = 3000
	type tally struct{ sent, dropped int }
	results := make(chan tally, len(cpus))
	for _, cpu := range cpus {
		go func() {
			var n tally
			defer func() { results <- n }()
			for range runs {
				switch ret := e.emit(t, cpu, 1); ret {
				case 0:
					n.sent++
				case errnoENOSPC:
					n.dropped++
				default:
					t.Errorf("CPU %d: bpf_perf_event_output = %d", cpu, ret)
					return
				}
			}
		}()
	}

	var want tally
	got := map[int]int{}
	var lost uint64
	var rec perfring.Record
	for pending := len(cpus); ; {
		select {
		case n := <-results:
			want.sent += n.sent
			want.dropped += n.dropped
			pending--
		default:
		}
		// Once every producer is done, read until the rings stay empty.
		wait := time.Second
		if pending == 0 {
			wait = 50 * time.Millisecond
		}
		rd.SetDeadline(time.Now().Add(wait))
		err := rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) && pending == 0 {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.LostSamples > 0 {
			lost += rec.LostSamples
			continue
		}
		e.checkSample(t, rec.RawSample, rec.CPU, 0)
		got[rec.CPU]++
	}
	total := 0
	for _, n := range got {
		total += n
	}
	t.Logf("%d samples sent, %d dropped (%d reported lost so far), per CPU %v", want.sent, want.dropped, lost, got)
	if total != want.sent {
		t.Errorf("read %d samples, programs sent %d", total, want.sent)
	}
	// The last drops of a CPU are reported only with its next sample.
	if lost > uint64(want.dropped) {
		t.Errorf("%d samples reported lost, only %d dropped", lost, want.dropped)
	}
}
