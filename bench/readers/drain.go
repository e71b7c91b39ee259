package readers

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

// Drain mode measures the reader alone, like reference/perfring's
// BenchmarkReadInto: the producers fill every CPU's ring to three quarters
// while the reader waits, then the reader drains them with the clock
// running; repeated until Samples per CPU were read. On a 2-CPU machine the
// saturated mode cannot outrun any of the readers (the producers and the
// per-sample wakeups share the cores with the reader), so this is the mode
// that compares what the readers themselves cost.
const Drain = "drain"

// drainer reads exactly n records that are already in the rings.
type drainer interface {
	drain(n uint64) (elapsed, cpu time.Duration, mallocs uint64, lost uint64, err error)
	close()
}

func (e *env) runDrain(ctx context.Context, reader string, size int) (res Result, err error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "pcbench_events", Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4, MaxEntries: e.arraySize,
	})
	if err != nil {
		return res, fmt.Errorf("reader bench: perf event array: %w", err)
	}
	defer m.Close()
	p, err := newProducer(m, size)
	if err != nil {
		return res, fmt.Errorf("reader bench: %w", err)
	}
	defer p.close()
	var d drainer
	if isLibbpf(reader) {
		d, err = e.startLibbpfDrain(ctx, m, reader == LibbpfCopy)
	} else {
		d, err = e.startGoDrain(reader, m)
	}
	if err != nil {
		return res, fmt.Errorf("reader bench: %s: %w", reader, err)
	}
	defer d.close()

	rec := 8 + 4 + (size+4+7)&^7 - 4
	perBatch := e.cfg.Pages * os.Getpagesize() / rec * 3 / 4
	total := e.cfg.samplesFor(size)
	res = Result{Reader: reader, Size: size, Mode: Drain, CPUs: len(e.cpus)}
	var mallocs uint64
	for round := 0; moreRounds(round, perBatch, total); round++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := e.produce(p, perBatch, MaxBatch, 0)
		if err != nil {
			return res, fmt.Errorf("reader bench: %s: fill: %w", reader, err)
		}
		want := uint64(perBatch * len(e.cpus))
		if n != want {
			return res, fmt.Errorf("reader bench: %s: fill: %d of %d samples entered rings that should have room", reader, n, want)
		}
		el, cpu, allocs, lost, err := d.drain(n)
		if err != nil {
			return res, fmt.Errorf("reader bench: %s %dB drain: %w", reader, size, err)
		}
		res.Attempted += want
		res.Accepted += n
		res.Delivered += n
		res.Lost += lost
		res.Wall += el
		res.CPUTime += cpu
		mallocs += allocs
	}
	res.AllocsPerSample = -1
	if !isLibbpf(reader) {
		res.Allocs, res.AllocSamples = mallocs, res.Delivered
		res.AllocsPerSample = float64(mallocs) / float64(res.Delivered)
	}
	return res, nil
}

// moreRounds reports whether another round is needed to reach total per CPU.
func moreRounds(round, perBatch, total int) bool { return round*perBatch < total }

type drainReq struct{ n uint64 }
type drainResp struct {
	elapsed, cpu  time.Duration
	mallocs, lost uint64
	err           error
}

type goDrain struct {
	rd   goReader
	req  chan drainReq
	resp chan drainResp
}

func (e *env) startGoDrain(name string, m *ebpf.Map) (drainer, error) {
	rd, err := e.openGo(name, m)
	if err != nil {
		return nil, err
	}
	g := &goDrain{rd: rd, req: make(chan drainReq), resp: make(chan drainResp)}
	go g.loop()
	return g, nil
}

func (g *goDrain) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for q := range g.req {
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		g.rd.setDeadline(time.Now().Add(60 * time.Second))
		cpu0 := threadCPU()
		t0 := time.Now()
		var got, lost uint64
		var err error
		if fr, ok := g.rd.(*refFuncReader); ok {
			got, lost, err = fr.drain(q.n)
			if err != nil {
				err = fmt.Errorf("after %d of %d records: %w", got, q.n, err)
			}
		}
		for err == nil && got < q.n {
			n, l, e := g.rd.read()
			if e != nil {
				err = fmt.Errorf("after %d of %d records: %w", got, q.n, e)
				break
			}
			if l > 0 {
				lost += l
				continue
			}
			if n == 0 {
				err = fmt.Errorf("empty sample after %d records", got)
				break
			}
			got++
		}
		el := time.Since(t0)
		cpu := threadCPU() - cpu0
		runtime.ReadMemStats(&ms1)
		g.resp <- drainResp{elapsed: el, cpu: cpu, mallocs: ms1.Mallocs - ms0.Mallocs, lost: lost, err: err}
	}
}

func (g *goDrain) drain(n uint64) (time.Duration, time.Duration, uint64, uint64, error) {
	g.req <- drainReq{n: n}
	r := <-g.resp
	return r.elapsed, r.cpu, r.mallocs, r.lost, r.err
}

func (g *goDrain) close() {
	close(g.req)
	g.rd.close()
}

type libbpfDrain struct{ *libbpfReading }

func (e *env) startLibbpfDrain(ctx context.Context, m *ebpf.Map, copyOut bool) (drainer, error) {
	l, err := e.startLibbpfMode(ctx, m, copyOut, "drain")
	if err != nil {
		return nil, err
	}
	return libbpfDrain{l}, nil
}

func (l libbpfDrain) drain(n uint64) (time.Duration, time.Duration, uint64, uint64, error) {
	if _, err := fmt.Fprintf(l.stdin, "drain %d\n", n); err != nil {
		return 0, 0, 0, 0, err
	}
	line, err := l.next()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	var el, cpu, lost uint64
	if _, err := fmt.Sscanf(line, "batch %d %d %d", &el, &cpu, &lost); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("driver said %q: %w", strings.TrimSpace(line), err)
	}
	return time.Duration(el), time.Duration(cpu), 0, lost, nil
}
