// Package readers measures perf ring readers side by side on the same rings
// and the same producers: perfconform's reference reader
// (reference/perfring: ReadInto, also with a quarter-ring Watermark, and the
// zero-copy batch ReadFunc), cilium/ebpf's
// perf.Reader with ReadInto, and libbpf 1.1's perf_buffer (a static C driver,
// bench/libbpfdrv; its callback either only counts, libbpf's zero-copy best
// case, or copies each sample out as ReadInto always does).
//
// Every run uses a fresh perf event array sized for the possible CPUs, a
// reader with Pages data pages per CPU ring, and one producer goroutine per
// online CPU, pinned to it, running a BPF program with BPF_PROG_TEST_RUN
// (BPF_F_TEST_RUN_ON_CPU) that emits up to MaxBatch samples per run. The
// program counts the bpf_perf_event_output calls that succeeded, so the
// harness knows exactly how many samples entered the rings.
//
// Modes:
//   - Drain: the rings are filled to three quarters while the reader waits,
//     then the reader alone drains them, timed: the reader's capacity.
//   - Saturated: producers flat out while the reader runs. A reader is done
//     when it has delivered every accepted sample; the dropped ones reach it
//     as lost records, which the kernel writes lazily, before the next sample
//     on that ring, so once it has drained the harness writes one sentinel
//     sample per CPU to flush them out. samples/s runs from the producers'
//     start to the last sample delivered (or the producers' end if the
//     reader kept up).
//   - RateLimited: the same at Config.Rate samples/s per CPU.
//
// Figures per run: samples/s delivered, lost samples as the reader reports
// them (checked against the drops the producers saw), CPU time of the reader
// per million samples (the thread CPU clock of the locked reader goroutine,
// the process CPU clock of the single-threaded C driver: what getrusage sums,
// read exactly), and, for the Go readers, heap allocations per sample in
// steady state (runtime.MemStats.Mallocs around reads of records written
// while no clock ran).
package readers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/bench/libbpfdrv"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
)

// Reader names.
const (
	Reference = "reference"
	Cilium    = "cilium-ebpf"
	Libbpf    = "libbpf"
	// LibbpfCopy is libbpf with a callback that copies each sample out of the
	// ring, which the Go readers always do; Libbpf's callback only counts.
	LibbpfCopy = "libbpf-copy"
	// ReferenceWatermark is the reference reader with Options.Watermark set
	// to a quarter of the ring: woken per quarter ring instead of per sample,
	// and reading with 10 ms deadlines so records below the watermark still
	// come out (as ReadInto documents). Saturated and rate-limited modes only.
	ReferenceWatermark = "reference-watermark"
	// ReferenceFunc is the reference reader read with ReadFunc: one call per
	// batch of every ready ring, records handed over in place (zero-copy)
	// and counted, as the Libbpf callback does.
	ReferenceFunc = "reference-func"
)

// watermarkFlush is how often ReferenceWatermark's reader stops waiting for
// the watermark and takes what is there.
const watermarkFlush = 10 * time.Millisecond

func isLibbpf(reader string) bool { return reader == Libbpf || reader == LibbpfCopy }

// Modes.
const (
	Saturated   = "saturated"    // producers as fast as they can
	RateLimited = "rate-limited" // producers at Config.Rate samples/s per CPU
)

// Config says what to measure.
type Config struct {
	Readers []string // default: all of them
	Sizes   []int    // sample sizes in bytes, multiples of 8; default 8, 256, 4096
	Pages   int      // data pages per CPU ring, a power of two; default 256 (1 MiB)
	// Samples is how many samples each CPU's producer attempts in a saturated
	// run; default 1<<19 for samples up to 256 bytes, 1<<16 above.
	Samples int
	Rounds  int // saturated runs per reader and size, interleaved; the median is reported; default 3
	// Rate is the rate-limited producer's samples/s per CPU (batches every
	// millisecond), for RateDuration; Rate < 0 skips those runs. Defaults:
	// 20000/s for 2s.
	Rate         int
	RateDuration time.Duration
	// NoDrain skips the drain mode (reader alone on pre-filled rings).
	NoDrain bool
	// LibbpfDriver is the driver's path (libbpfdrv.Build); when Readers
	// include Libbpf or LibbpfCopy and it is empty, Run builds one into a
	// temporary directory and removes it at the end.
	LibbpfDriver string
	// BPFFS is where the libbpf driver's map is pinned; default /sys/fs/bpf.
	BPFFS string
	// CPUProfile, when set, receives a Go CPU profile of the whole run
	// (producers included; it samples but does not change what is timed).
	CPUProfile string
	Progress   func(string)
}

// Result is one (reader, size, mode) figure.
type Result struct {
	Reader string `json:"reader"`
	Size   int    `json:"size"`
	Mode   string `json:"mode"`
	CPUs   int    `json:"cpus"`
	// Attempted is how many bpf_perf_event_output calls the producers made,
	// Accepted how many succeeded (entered a ring); the rest were dropped.
	Attempted uint64 `json:"attempted"`
	Accepted  uint64 `json:"accepted"`
	// Delivered is how many samples the reader handed to user space, Lost how
	// many dropped samples it reported (should equal Attempted - Accepted).
	Delivered uint64        `json:"delivered"`
	Lost      uint64        `json:"lost"`
	Wall      time.Duration `json:"wall_ns"`
	CPUTime   time.Duration `json:"cpu_ns"` // user + system time of the reader
	// AllocsPerSample is heap allocations per record in steady state; -1 where
	// not measured (the C driver). Allocs is the raw count over AllocSamples
	// reads: runtime.MemStats.Mallocs is process-wide, so an allocation by the
	// runtime during the reads counts too.
	AllocsPerSample float64 `json:"allocs_per_sample"`
	Allocs          uint64  `json:"allocs"`
	AllocSamples    uint64  `json:"alloc_samples"`
}

// SamplesPerSec is delivered samples over wall time.
func (r Result) SamplesPerSec() float64 { return float64(r.Delivered) / r.Wall.Seconds() }

// CPUPerMillion is the reader's CPU time per million delivered samples.
func (r Result) CPUPerMillion() time.Duration {
	if r.Delivered == 0 {
		return 0
	}
	return time.Duration(float64(r.CPUTime) / float64(r.Delivered) * 1e6)
}

// LossAccounted reports whether the reader reported exactly the samples the
// kernel dropped.
func (r Result) LossAccounted() bool { return r.Lost == r.Attempted-r.Accepted }

func (c *Config) defaults() {
	if len(c.Readers) == 0 {
		c.Readers = []string{Reference, ReferenceFunc, ReferenceWatermark, Cilium, Libbpf, LibbpfCopy}
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int{8, 256, 4096}
	}
	if c.Pages == 0 {
		c.Pages = 256
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	if c.Rate == 0 {
		c.Rate = 20000
	}
	if c.RateDuration == 0 {
		c.RateDuration = 2 * time.Second
	}
	if c.BPFFS == "" {
		c.BPFFS = "/sys/fs/bpf"
	}
}

func (c *Config) samplesFor(size int) int {
	if c.Samples > 0 {
		return c.Samples
	}
	if size <= 256 {
		return 1 << 19
	}
	return 1 << 16
}

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

// Run measures every reader at every size: Rounds saturated runs (readers
// interleaved, median samples/s kept) and one rate-limited run.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	for _, r := range cfg.Readers {
		if r != Reference && r != ReferenceFunc && r != Cilium && r != ReferenceWatermark && !isLibbpf(r) {
			return nil, fmt.Errorf("reader bench: unknown reader %q (want %s, %s, %s, %s, %s or %s)", r, Reference, ReferenceFunc, Cilium, Libbpf, LibbpfCopy, ReferenceWatermark)
		}
	}
	if cfg.LibbpfDriver == "" && slices.ContainsFunc(cfg.Readers, isLibbpf) {
		dir, err := os.MkdirTemp("", "perfconform-bench-")
		if err != nil {
			return nil, fmt.Errorf("reader bench: %w", err)
		}
		defer os.RemoveAll(dir)
		if cfg.LibbpfDriver, err = libbpfdrv.Build(ctx, dir); err != nil {
			return nil, fmt.Errorf("reader bench: %w", err)
		}
	}
	if cfg.CPUProfile != "" {
		pf, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("reader bench: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return nil, fmt.Errorf("reader bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	online, err := topology.ReadOnline("")
	if err != nil {
		return nil, fmt.Errorf("reader bench: %w", err)
	}
	possible, err := topology.ReadPossible("")
	if err != nil {
		return nil, fmt.Errorf("reader bench: %w", err)
	}
	env := &env{cfg: cfg, cpus: online.CPUs(), arraySize: topology.PerfArraySize(possible)}

	var out []Result
	for _, size := range cfg.Sizes {
		if !cfg.NoDrain {
			drains := map[string][]Result{}
			for round := range cfg.Rounds {
				for _, reader := range cfg.Readers {
					if reader == ReferenceWatermark {
						continue // its flush deadlines would be timed, not the reader
					}
					r, err := env.runDrain(ctx, reader, size)
					if err != nil {
						return out, err
					}
					cfg.progress("%s %dB %s round %d: %.0f samples/s, %v CPU/M, %.4f allocs/sample", reader, size, Drain, round+1,
						r.SamplesPerSec(), r.CPUPerMillion().Round(time.Millisecond), r.AllocsPerSample)
					drains[reader] = append(drains[reader], r)
				}
			}
			for _, reader := range cfg.Readers {
				if len(drains[reader]) > 0 {
					out = append(out, median(drains[reader]))
				}
			}
		}
		runs := map[string][]Result{}
		for round := range cfg.Rounds {
			for _, reader := range cfg.Readers {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				r, err := env.run(ctx, reader, size, Saturated)
				if err != nil {
					return out, err
				}
				cfg.progress("%s %dB %s round %d: %.0f samples/s, lost %d, %v CPU/M", reader, size, Saturated, round+1,
					r.SamplesPerSec(), r.Lost, r.CPUPerMillion().Round(time.Millisecond))
				runs[reader] = append(runs[reader], r)
			}
		}
		for _, reader := range cfg.Readers {
			out = append(out, median(runs[reader]))
		}
		if cfg.Rate < 0 {
			continue
		}
		for _, reader := range cfg.Readers {
			r, err := env.run(ctx, reader, size, RateLimited)
			if err != nil {
				return out, err
			}
			cfg.progress("%s %dB %s: %.0f samples/s, lost %d, %v CPU/M", reader, size, RateLimited,
				r.SamplesPerSec(), r.Lost, r.CPUPerMillion().Round(time.Millisecond))
			out = append(out, r)
		}
	}
	return out, nil
}

// median is the run with the median samples/s.
func median(rs []Result) Result {
	rs = slices.Clone(rs)
	sort.Slice(rs, func(i, j int) bool { return rs[i].SamplesPerSec() < rs[j].SamplesPerSec() })
	return rs[len(rs)/2]
}

type env struct {
	cfg       Config
	cpus      []int
	arraySize uint32
}

// reading is the harness's side of one reader under test.
type reading interface {
	// setTarget tells the reader how many samples entered the rings; drained
	// is closed once it has delivered them all.
	setTarget(n uint64)
	drained() <-chan struct{}
	failed() <-chan error
	// expectSentinels says how many sentinel samples are about to be written;
	// the reader stops once it has delivered them (and the lost records the
	// kernel writes before them).
	expectSentinels(n uint64)
	// finish waits for the reader's figures and the monotonic time its last
	// target sample was delivered (0: before it learned the target). Go
	// readers then measure allocations on the records fill writes.
	finish(fill func() (uint64, error)) (Result, int64, error)
	close()
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func (e *env) run(ctx context.Context, reader string, size int, mode string) (res Result, err error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "pcbench_events", Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: e.arraySize,
	})
	if err != nil {
		return res, fmt.Errorf("reader bench: perf event array of %d entries: %w", e.arraySize, err)
	}
	defer m.Close()
	p, err := newProducer(m, size)
	if err != nil {
		return res, fmt.Errorf("reader bench: %w", err)
	}
	defer p.close()

	var rd reading
	switch {
	case isLibbpf(reader):
		rd, err = e.startLibbpfMode(ctx, m, reader == LibbpfCopy, "")
	default:
		rd, err = e.startGo(reader, m)
	}
	if err != nil {
		return res, fmt.Errorf("reader bench: %s: %w", reader, err)
	}
	defer rd.close()

	perCPU, batch, interval := e.cfg.samplesFor(size), MaxBatch, time.Duration(0)
	if mode == RateLimited {
		batch = max(1, e.cfg.Rate/1000)
		interval = time.Millisecond
		perCPU = int(e.cfg.RateDuration/interval) * batch
	}
	start := monoNow()
	accepted, err := e.produce(p, perCPU, batch, interval)
	producersDone := monoNow()
	if err != nil {
		return res, fmt.Errorf("reader bench: %s: %w", reader, err)
	}
	rd.setTarget(accepted)
	select {
	case <-rd.drained():
	case err := <-rd.failed():
		return res, fmt.Errorf("reader bench: %s %dB: %w", reader, size, err)
	case <-time.After(60 * time.Second):
		return res, fmt.Errorf("reader bench: %s %dB: reader did not deliver the %d accepted samples within 60s", reader, size, accepted)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	rd.expectSentinels(uint64(len(e.cpus)))
	if s, err := e.produce(p, 1, 1, 0); err != nil || s != uint64(len(e.cpus)) {
		return res, fmt.Errorf("reader bench: %s: %d of %d sentinels written to drained rings: %v", reader, s, len(e.cpus), err)
	}
	// Allocation phase records: half a ring per CPU, written while no clock runs.
	fill := func() (uint64, error) {
		rec := 8 + 4 + (size+4+7)&^7 - 4
		k := min(MaxBatch, e.cfg.Pages*os.Getpagesize()/rec/2)
		n, err := e.produce(p, k, k, 0)
		if err == nil && n != uint64(k*len(e.cpus)) {
			err = fmt.Errorf("%d of %d allocation-phase samples entered the rings", n, k*len(e.cpus))
		}
		return n, err
	}
	res, endNs, err := rd.finish(fill)
	if err != nil {
		return res, fmt.Errorf("reader bench: %s %dB: %w", reader, size, err)
	}
	end := max(endNs, producersDone)
	res.Reader, res.Size, res.Mode, res.CPUs = reader, size, mode, len(e.cpus)
	res.Attempted = uint64(perCPU * len(e.cpus))
	res.Accepted = accepted
	res.Wall = time.Duration(end - start)
	return res, nil
}

// produce runs perCPU samples on every online CPU at once, from one pinned
// goroutine per CPU, in batches; interval > 0 paces the batches.
func (e *env) produce(p *producer, perCPU, batch int, interval time.Duration) (uint64, error) {
	var wg sync.WaitGroup
	var accepted atomic.Uint64
	errs := make([]error, len(e.cpus))
	for i, cpu := range e.cpus {
		wg.Go(func() {
			defer runtime.UnlockOSThread()
			r, err := p.pin(cpu)
			if err != nil {
				errs[i] = err
				return
			}
			next := time.Now()
			var n uint64
			for left := perCPU; left > 0; {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				k := min(left, batch)
				ok, err := r.emit(k)
				if err != nil {
					errs[i] = err
					return
				}
				n += uint64(ok)
				left -= k
			}
			accepted.Add(n)
		})
	}
	wg.Wait()
	return accepted.Load(), errors.Join(errs...)
}

// goReader is what the harness needs of a Go reader.
type goReader interface {
	// read returns the length of the sample, or lost > 0 for a lost record.
	read() (n int, lost uint64, err error)
	setDeadline(time.Time)
	close() error
}

type refReader struct {
	rd    *perfring.Reader
	rec   perfring.Record
	flush time.Duration // > 0: read with deadlines this far ahead, renewed when they pass
}

func (r *refReader) read() (int, uint64, error) {
	for {
		err := r.rd.ReadInto(&r.rec)
		if r.flush > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			r.rd.SetDeadline(time.Now().Add(r.flush))
			continue
		}
		return len(r.rec.RawSample), r.rec.LostSamples, err
	}
}

func (r *refReader) setDeadline(t time.Time) {
	if r.flush > 0 {
		t = time.Now().Add(r.flush)
	}
	r.rd.SetDeadline(t)
}
func (r *refReader) close() error { return r.rd.Close() }

// refFuncReader reads with ReadFunc. The harness loops hand it their
// per-record work through each (a batch per call); read, one record per
// call, exists for the goReader interface only.
type refFuncReader struct {
	rd *perfring.Reader
}

// each calls fn for every record of one ReadFunc call until fn returns false.
func (r *refFuncReader) each(fn func(n int, lost uint64) bool) error {
	_, err := r.rd.ReadFunc(func(rec *perfring.Record) bool { return fn(len(rec.RawSample), rec.LostSamples) })
	return err
}

func (r *refFuncReader) read() (n int, lost uint64, err error) {
	err = r.each(func(k int, l uint64) bool { n, lost = k, l; return false })
	return n, lost, err
}
func (r *refFuncReader) setDeadline(t time.Time) { r.rd.SetDeadline(t) }
func (r *refFuncReader) close() error            { return r.rd.Close() }

// drain reads n samples (and the lost records among them) with the
// counting callback inline: what the drain mode times, like libbpf's
// counting callback.
func (r *refFuncReader) drain(n uint64) (got, lost uint64, err error) {
	empty := false
	fn := func(rec *perfring.Record) bool {
		if rec.LostSamples > 0 {
			lost += rec.LostSamples
			return true
		}
		if len(rec.RawSample) == 0 {
			empty = true
			return false
		}
		got++
		return got < n
	}
	for got < n {
		if _, err := r.rd.ReadFunc(fn); err != nil {
			return got, lost, err
		}
		if empty {
			return got, lost, fmt.Errorf("empty sample after %d records", got)
		}
	}
	return got, lost, nil
}

// eacher is a goReader that reads in batches: each calls fn per record of
// one batch until fn returns false.
type eacher interface {
	each(fn func(n int, lost uint64) bool) error
}

// forEach reads one batch from an eacher, one record from any other reader.
func forEach(rd goReader, fn func(n int, lost uint64) bool) error {
	if b, ok := rd.(eacher); ok {
		return b.each(fn)
	}
	n, lost, err := rd.read()
	if err == nil {
		fn(n, lost)
	}
	return err
}

type ciliumReader struct {
	rd  *perf.Reader
	rec perf.Record
}

func (r *ciliumReader) read() (int, uint64, error) {
	err := r.rd.ReadInto(&r.rec)
	return len(r.rec.RawSample), r.rec.LostSamples, err
}
func (r *ciliumReader) setDeadline(t time.Time) { r.rd.SetDeadline(t) }
func (r *ciliumReader) close() error            { return r.rd.Close() }

// goReading runs a Go reader in its own goroutine locked to its thread, so
// RUSAGE_THREAD is the reader's CPU time.
type goReading struct {
	rd        goReader
	target    atomic.Uint64
	want      atomic.Uint64
	delivered atomic.Uint64
	endNs     atomic.Int64
	drainOnce sync.Once
	drainedCh chan struct{}
	phase1    chan Result // the throughput figures, once want is reached
	allocN    chan uint64 // records written for the allocation phase
	allocs    chan [2]uint64
	errc      chan error
}

// openGo opens the named Go reader on every online CPU's ring.
func (e *env) openGo(name string, m *ebpf.Map) (goReader, error) {
	switch name {
	case Reference:
		r, err := perfring.New(m, e.cpus, perfring.Options{Pages: e.cfg.Pages})
		if err != nil {
			return nil, err
		}
		return &refReader{rd: r}, nil
	case ReferenceFunc:
		r, err := perfring.New(m, e.cpus, perfring.Options{Pages: e.cfg.Pages})
		if err != nil {
			return nil, err
		}
		return &refFuncReader{rd: r}, nil
	case ReferenceWatermark:
		r, err := perfring.New(m, e.cpus, perfring.Options{Pages: e.cfg.Pages, Watermark: e.cfg.Pages * os.Getpagesize() / 4})
		if err != nil {
			return nil, err
		}
		return &refReader{rd: r, flush: watermarkFlush}, nil
	case Cilium:
		r, err := perf.NewReader(m, e.cfg.Pages*os.Getpagesize())
		if err != nil {
			return nil, err
		}
		return &ciliumReader{rd: r}, nil
	}
	return nil, fmt.Errorf("no Go reader %q", name)
}

func (e *env) startGo(name string, m *ebpf.Map) (reading, error) {
	rd, err := e.openGo(name, m)
	if err != nil {
		return nil, err
	}
	g := &goReading{rd: rd, drainedCh: make(chan struct{}), phase1: make(chan Result, 1),
		allocN: make(chan uint64), allocs: make(chan [2]uint64, 1), errc: make(chan error, 1)}
	g.target.Store(math.MaxUint64)
	g.want.Store(math.MaxUint64)
	started := make(chan struct{})
	go g.loop(started)
	<-started
	return g, nil
}

// threadCPU is the calling thread's CPU time (user + system). It reads
// CLOCK_THREAD_CPUTIME_ID, the exact runtime getrusage(RUSAGE_THREAD) splits
// into utime and stime: getrusage's split is scaled from tick samples and
// was seen to lag by tens of milliseconds over short drains.
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func (g *goReading) loop(started chan<- struct{}) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	close(started)
	var samples, lost uint64
	var bad error
	// deliver is the per-record work; false stops the batch once every
	// wanted record is in or a record is bad.
	deliver := func(n int, l uint64) bool {
		if l > 0 {
			lost += l
			return true
		}
		if n == 0 {
			bad = fmt.Errorf("empty sample after %d samples", samples)
			return false
		}
		samples++
		g.delivered.Store(samples)
		if samples == g.target.Load() {
			g.endNs.Store(monoNow())
			g.drainOnce.Do(func() { close(g.drainedCh) })
		}
		if samples&0xffff == 0 {
			g.rd.setDeadline(time.Now().Add(60 * time.Second))
		}
		return samples < g.want.Load()
	}
	g.rd.setDeadline(time.Now().Add(60 * time.Second))
	for samples < g.want.Load() {
		if err := forEach(g.rd, deliver); err != nil {
			g.errc <- fmt.Errorf("read after %d samples: %w", samples, err)
			return
		}
		if bad != nil {
			g.errc <- bad
			return
		}
	}
	g.phase1 <- Result{CPUTime: threadCPU() - cpu0, Delivered: g.target.Load(), Lost: lost}

	// Allocation phase: the harness writes k records, then they are read
	// between two ReadMemStats (nothing else runs meanwhile).
	k := <-g.allocN
	g.rd.setDeadline(time.Now().Add(60 * time.Second))
	var before, after runtime.MemStats
	var i uint64
	count := func(int, uint64) bool { i++; return i < k }
	runtime.ReadMemStats(&before)
	for i < k {
		if err := forEach(g.rd, count); err != nil {
			g.errc <- fmt.Errorf("allocation phase, record %d of %d: %w", i, k, err)
			return
		}
	}
	runtime.ReadMemStats(&after)
	g.allocs <- [2]uint64{after.Mallocs - before.Mallocs, k}
}

func (g *goReading) setTarget(n uint64) {
	g.target.Store(n)
	if g.delivered.Load() >= n {
		g.drainOnce.Do(func() { close(g.drainedCh) })
	}
}
func (g *goReading) drained() <-chan struct{} { return g.drainedCh }
func (g *goReading) failed() <-chan error     { return g.errc }
func (g *goReading) expectSentinels(n uint64) { g.want.Store(g.target.Load() + n) }

func (g *goReading) finish(fill func() (uint64, error)) (Result, int64, error) {
	var res Result
	select {
	case res = <-g.phase1:
	case err := <-g.errc:
		return res, 0, err
	case <-time.After(60 * time.Second):
		return res, 0, errors.New("reader did not deliver the sentinels within 60s")
	}
	k, err := fill()
	if err != nil {
		return res, 0, fmt.Errorf("allocation phase: %w", err)
	}
	g.allocN <- k
	select {
	case a := <-g.allocs:
		res.Allocs, res.AllocSamples = a[0], a[1]
		res.AllocsPerSample = float64(a[0]) / float64(a[1])
	case err := <-g.errc:
		return res, 0, err
	}
	return res, g.endNs.Load(), nil
}

func (g *goReading) close() { g.rd.close() }

// libbpfReading drives the C driver (bench/libbpfdrv) through its stdin and
// stdout; see c/driver.c for the protocol.
type libbpfReading struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	lines     chan string
	errc      chan error
	drainedCh chan struct{}
	pinDir    string
	stderr    *strings.Builder
	sentinels uint64
}

// startLibbpfMode starts the driver; mode "drain" makes it wait for drain
// commands instead of reading as records arrive; copy makes its callback copy
// each sample out.
func (e *env) startLibbpfMode(ctx context.Context, m *ebpf.Map, copyOut bool, mode string) (_ *libbpfReading, err error) {
	dir, err := os.MkdirTemp(e.cfg.BPFFS, "perfconform-bench-")
	if err != nil {
		return nil, fmt.Errorf("pin directory on bpffs: %w", err)
	}
	l := &libbpfReading{pinDir: dir, lines: make(chan string, 4), errc: make(chan error, 1),
		drainedCh: make(chan struct{}), stderr: &strings.Builder{}}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	pin := filepath.Join(dir, "events")
	if err := m.Pin(pin); err != nil {
		return nil, err
	}
	args := []string{pin, fmt.Sprint(e.cfg.Pages)}
	if mode != "" {
		args = append(args, mode)
	}
	if copyOut {
		args = append(args, "copy")
	}
	l.cmd = exec.CommandContext(ctx, e.cfg.LibbpfDriver, args...)
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	l.cmd.Stderr = l.stderr
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := l.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	if line, err := l.next(); err != nil {
		return nil, err
	} else if line != "ready" {
		return nil, fmt.Errorf("driver said %q, want ready", line)
	}
	return l, nil
}

func (l *libbpfReading) next() (string, error) {
	select {
	case line, ok := <-l.lines:
		if !ok {
			err := l.cmd.Wait()
			return "", fmt.Errorf("driver ended (%v): %s", err, strings.TrimSpace(l.stderr.String()))
		}
		return line, nil
	case <-time.After(60 * time.Second):
		return "", errors.New("driver silent for 60s")
	}
}

func (l *libbpfReading) setTarget(n uint64) {
	if _, err := fmt.Fprintf(l.stdin, "target %d\n", n); err != nil {
		l.errc <- err
		return
	}
	go func() {
		if line, err := l.next(); err != nil {
			l.errc <- err
		} else if line != "drained" {
			l.errc <- fmt.Errorf("driver said %q, want drained", line)
		} else {
			close(l.drainedCh)
		}
	}()
}
func (l *libbpfReading) drained() <-chan struct{} { return l.drainedCh }
func (l *libbpfReading) failed() <-chan error     { return l.errc }
func (l *libbpfReading) expectSentinels(n uint64) {
	l.sentinels = n
	if _, err := fmt.Fprintf(l.stdin, "sentinels %d\n", n); err != nil {
		l.errc <- err
	}
}

func (l *libbpfReading) finish(func() (uint64, error)) (Result, int64, error) {
	line, err := l.next()
	if err != nil {
		return Result{}, 0, err
	}
	var out struct {
		Samples uint64 `json:"samples"`
		Lost    uint64 `json:"lost"`
		EndNs   uint64 `json:"end_ns"`
		CPUNs   uint64 `json:"cpu_ns"`
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		return Result{}, 0, fmt.Errorf("driver figures %q: %w", line, err)
	}
	if out.Samples < l.sentinels {
		return Result{}, 0, fmt.Errorf("driver delivered %d samples, fewer than the %d sentinels", out.Samples, l.sentinels)
	}
	res := Result{Delivered: out.Samples - l.sentinels, Lost: out.Lost, CPUTime: time.Duration(out.CPUNs), AllocsPerSample: -1}
	return res, int64(out.EndNs), nil
}

func (l *libbpfReading) close() {
	if l.stdin != nil {
		l.stdin.Close()
	}
	if l.cmd != nil && l.cmd.Process != nil {
		l.cmd.Process.Kill()
		l.cmd.Wait()
	}
	os.RemoveAll(l.pinDir)
}
