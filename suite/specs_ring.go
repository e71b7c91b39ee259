package suite

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite/trigger"
)

// This file holds the checks of what a reader does beyond opening its rings:
// attribution, small explicit maps, lost records, and CPUs that come and go.

// note keeps what a session delivered besides samples: lost counts and the
// first reader error.
func (l *loaded) note(ev protocol.Event) {
	switch ev.Event {
	case protocol.EventLost:
		l.lost = append(l.lost, ev)
	case protocol.EventError:
		if l.readerErr == "" {
			l.readerErr = ev.Message
			if ev.Map != "" {
				l.readerErr = "map " + ev.Map + ": " + ev.Message
			}
		}
	}
}

// drain reads the session's events for d, noting lost counts and errors.
// Samples are discarded: nothing the suite waits for is outstanding.
func (c *check) drain(l *loaded, d time.Duration) { c.drainUntil(l, d, nil) }

// drainUntil is drain that stops early once enough (when not nil) says what
// was noted is all the caller waits for; it reports whether it did.
func (c *check) drainUntil(l *loaded, d time.Duration, enough func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if enough != nil && enough() {
			return true
		}
		select {
		case ev, ok := <-l.sess.Events():
			if !ok {
				l.eventsClosed = true
				return false // the caller asks readerFailure why
			}
			l.note(ev)
		case <-timer.C:
			return false
		case <-c.ctx.Done():
			c.errorf("interrupted while reading the session: %v", c.ctx.Err())
		}
	}
}

// grace is how long the suite keeps reading after the event it waited for,
// for what a reader reports alongside it (a lost count sent on another
// channel than the samples, an error after a CPU went away).
func (c *check) grace() time.Duration { return max(c.env.cfg.Timeout/20, 200*time.Millisecond) }

// readerFailure says why the loader's reader stopped, or "" while it runs:
// an error event of an in-process session, or the error line of an adapter
// that then exited. An adapter that died without an error line is not the
// loader's failure: the check ends as an ERROR.
func (c *check) readerFailure(l *loaded) string {
	if l.readerErr != "" {
		return l.readerErr
	}
	es, ok := l.sess.(endedSession)
	if !ok {
		return ""
	}
	err := es.Ended()
	// The session's events end a moment before its process is reaped.
	for deadline := time.Now().Add(time.Second); err == nil && l.eventsClosed && time.Now().Before(deadline); err = es.Ended() {
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil {
		return ""
	}
	if le := AsLoadError(err); le != nil {
		return fmt.Sprintf("%s stage: %v", le.Stage, le.Err)
	}
	c.errorf("the adapter ended during the check: %v", err)
	return ""
}

// sessionEnded handles a session whose event channel closed while the suite
// waited: a reader failure the loader reported is a FAIL, anything else is
// an ERROR.
func (c *check) sessionEnded(l *loaded, when string) {
	l.eventsClosed = true
	if msg := c.readerFailure(l); msg != "" {
		cpu, errno := evidenceIn(msg)
		c.failf(cpu, errno, "the loader's reader failed %s: %s", when, msg)
	}
	c.errorf("the loader's session ended %s", when)
}

var cpuInMessage = regexp.MustCompile(`(?i)\bCPU[ #:=]*(\d+)\b`)

// evidenceIn finds the CPU and errno a loader's message names: the first
// "CPU n", and the errno written as its name (E2BIG), as the C library
// describes it ("argument list too long"), or as a negative number in
// parentheses ("Invalid argument(-22)", libbpf's style).
func evidenceIn(msg string) (*int, string) {
	var cpu *int
	if m := cpuInMessage.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			cpu = &n
		}
	}
	lower := strings.ToLower(msg)
	best, errno := -1, ""
	found := func(at int, e unix.Errno) {
		if at >= 0 && (best < 0 || at < best) {
			best, errno = at, errnoName(e)
		}
	}
	for e := unix.Errno(1); e < 134; e++ {
		if name := unix.ErrnoName(e); name != "" {
			found(indexWord(msg, name), e)
			found(indexWord(msg, errnoName(e)), e)
		}
		if desc := e.Error(); !strings.HasPrefix(desc, "errno ") {
			found(strings.Index(lower, strings.ToLower(desc)), e)
		}
		found(strings.Index(msg, fmt.Sprintf("(-%d)", int(e))), e)
	}
	return cpu, errno
}

// indexWord is the position of word in s as a whole word, or -1.
func indexWord(s, word string) int {
	for from := 0; ; {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return -1
		}
		i += from
		end := i + len(word)
		if (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end])) {
			return i
		}
		from = i + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// checkRingAttribute judges the CPU each delivered sample is attributed to.
// Samples are identified by content, so a reader that does not say which CPU
// a sample came from (protocol.CPUUnknown) is neither failed nor credited:
// the spec is SKIPped for it.
func checkRingAttribute(c *check) {
	l := c.mustLoad("perf_auto_kv")
	m, _ := c.kernelMap(l, "events")
	outcomes := c.fire(l, "events", m, c.ringCPUs(0))
	var wrong, unknown, right []int
	var bad []string
	for _, o := range outcomes {
		switch {
		case !o.delivered:
		case o.reported == o.cpu:
			right = append(right, o.cpu)
		case o.reported == protocol.CPUUnknown:
			unknown = append(unknown, o.cpu)
		default:
			wrong = append(wrong, o.cpu)
			bad = append(bad, fmt.Sprintf("CPU %d: sample delivered as CPU %d", o.cpu, o.reported))
		}
	}
	switch {
	case len(wrong) > 0:
		cpu := wrong[0]
		c.failf(&cpu, "", "%s", strings.Join(bad, "; "))
	case len(right) == 0 && len(unknown) == 0:
		var all []string
		for _, o := range outcomes {
			all = append(all, o.String())
		}
		c.failf(nil, "", "no sample reached the loader's reader, so none was attributed (see RING-DELIVER): %s", strings.Join(all, "; "))
	case len(unknown) > 0:
		c.skip(fmt.Sprintf("the reader does not say which CPU a sample came from (cpu %d) for CPUs %s: attribution is not judged (samples were identified by their content)",
			protocol.CPUUnknown, topology.CPUSetOf(unknown...)))
	}
	c.passf("samples from CPUs %s attributed to their CPU", topology.CPUSetOf(right...))
}

// checkRingExplicitSmall: an array declared with N entries, fewer than this
// machine needs, gets a reader with rings on the online CPUs below N only.
// The CPUs from N up have no slot; their -E2BIG is the author's choice.
func checkRingExplicitSmall(c *check) {
	var notes []string
	for _, fx := range c.explicitFixtures(false) {
		n := explicitSize(fx)
		if n >= c.want() {
			continue
		}
		l := c.mustLoad(fx)
		notes = append(notes, fmt.Sprintf("%s: %s", fx, c.requireDelivery(l, "events", n)))
		l.close()
	}
	if len(notes) == 0 {
		c.passf("vacuous here: no explicit fixture is smaller than %d", c.want())
		return
	}
	c.passf("%s; online CPUs from the declared size up have no slot and no ring", strings.Join(notes, "; "))
}

// lossPhase is the flood on one CPU and what the reader made of it.
type lossPhase struct {
	cpu       int
	refused   int  // flood writes the kernel refused with -ENOSPC (and counted lost)
	delivered bool // the sample written after the flood reached the reader
	lost      []protocol.Event
}

func (p lossPhase) total() uint64 { return lostTotal(p.lost) }

// lostTotal sums the counts, saturating at the largest uint64: a sum that
// wrapped around (2^64-1 and then 17 reads as 16) would credit a reader
// claiming absurd loss with the count the kernel dropped.
func lostTotal(lost []protocol.Event) (n uint64) {
	for _, ev := range lost {
		if n+ev.Lost < n {
			return math.MaxUint64
		}
		n += ev.Lost
	}
	return n
}

func (p lossPhase) String() string {
	var got []string
	for _, ev := range p.lost {
		got = append(got, fmt.Sprintf("%d as CPU %d", ev.Lost, ev.CPU))
	}
	reported := "none reported"
	if len(got) > 0 {
		reported = "reported " + strings.Join(got, ", ")
	}
	after := "the next sample was delivered"
	if !p.delivered {
		after = "the next sample never arrived"
	}
	return fmt.Sprintf("CPU %d: the kernel dropped %d (bpf_perf_event_output -ENOSPC), %s, %s", p.cpu, p.refused, after, reported)
}

// lossRun is the RING-LOST experiment: lost counts reported while nothing
// was dropped (invented), then one flood per CPU.
type lossRun struct {
	invented []protocol.Event
	phases   []lossPhase
}

// lossShare is a completed loss experiment and where it ran, for the other
// loss requirement of the same loader (see lossExperiment).
type lossShare struct {
	run lossRun
	l   *loaded  // its session: closed when the check that ran it ended
	p   *pending // that check's result: how the session closed
}

// lossExperiment is provokeLoss done once per loader and run: RING-LOST and
// RING-LOST-CPU judge the same experiment, and the second of them to run
// takes the first one's. Only a completed experiment is taken over: where
// provokeLoss ended its check (a FAIL or ERROR on the way, an interruption),
// nothing is kept and the next check runs it afresh, so its result is the
// one it would have alone. The taken-over session comes along, closed: a
// FAIL judged from it still becomes an ERROR when its adapter died
// (adapterEnded reads a closed session's final state), and a session that
// did not close cleanly makes both results ERRORs (recorder.finish).
func (c *check) lossExperiment() lossRun {
	if s := c.shared.loss; s != nil {
		c.loads = append(c.loads, s.l)
		if c.p.closeErr == nil {
			c.p.closeErr = s.p.closeErr
		}
		return s.run
	}
	run, l := c.provokeLoss()
	c.shared.loss = &lossShare{run: run, l: l, p: c.p}
	return run
}

// provokeLoss loads perf_auto_kv with one-page rings; writes a sample on
// every ring CPU (any lost count reported now is invented: the kernel
// dropped nothing); then on the lowest and the highest CPU that delivered
// writes samples too large for the ring
// (the kernel refuses them with -ENOSPC and counts them lost) followed by one
// that fits, which the kernel writes after a PERF_RECORD_LOST carrying the
// count. What the reader reported up to that sample, and after it (see
// drainLoss), is the phase's evidence.
func (c *check) provokeLoss() (lossRun, *loaded) {
	c.pages = 1
	l := c.mustLoad("perf_auto_kv")
	m, _ := c.kernelMap(l, "events")
	cpus := c.ringCPUs(0)
	trig := c.newTrigger("events", m)
	defer trig.Close()
	flood, err := trigger.NewFlood(m)
	if err != nil {
		c.errorf("load the suite's flood program: %v", err)
	}
	defer flood.Close()

	// Loss is provoked where the reader delivers: a CPU without a working
	// ring (RING-DELIVER's business) cannot show what the reader does with
	// a lost record.
	var run lossRun
	var all []string
	var targets []int
	for _, o := range c.fireWith(l, "events", trig, cpus) {
		all = append(all, o.String())
		if o.ok() {
			targets = append(targets, o.cpu)
		}
	}
	if len(targets) == 0 {
		c.failf(nil, "", "no ring CPU delivers a sample, so no lost count can reach the user (see RING-DELIVER): %s", strings.Join(all, "; "))
	}
	// Nothing was dropped, so nothing is expected now: only the whole grace
	// shows that a reader sending counts on another channel invents none.
	c.drain(l, c.grace())
	run.invented, l.lost = l.lost, nil
	if len(targets) > 2 {
		targets = []int{targets[0], targets[len(targets)-1]}
	}
	for _, cpu := range targets {
		refused, err := flood.Fire(cpu)
		if err != nil {
			c.errorf("flood CPU %d: %v", cpu, err)
		}
		if refused == 0 {
			c.errorf("CPU %d: the kernel took all %d samples of %d bytes: the loader's ring is larger than the one page asked for and than %d KiB, so no loss could be provoked",
				cpu, trigger.FloodWrites, trigger.FloodSize, trigger.FloodWrites*trigger.FloodSize/1024)
		}
		fired := time.Now()
		o := c.fireWith(l, "events", trig, []int{cpu})[0]
		if o.errno != 0 {
			c.failf(&cpu, errnoName(o.errno), "after the flood on CPU %d: %s", cpu, o)
		}
		c.drainLoss(l, refused, o.delivered, fired)
		run.phases = append(run.phases, lossPhase{cpu: cpu, refused: refused, delivered: o.delivered, lost: l.lost})
		l.lost = nil
	}
	if msg := c.readerFailure(l); msg != "" {
		cpu, errno := evidenceIn(msg)
		c.failf(cpu, errno, "the reader failed while records were lost: %s", msg)
	}
	return run, l
}

// drainLoss ends a flood phase whose sample was written at fired. While the
// outcome is open it reads for the whole grace, as before any other verdict:
// the sample did not arrive, or the lost counts reported so far add up to
// less than the kernel refused (a reader may send them on another channel
// than its samples, and later). Once the evidence is complete — the sample
// delivered and at least the refused count reported — only more loss can
// still arrive, which a correct reader never reports: the suite reads on for
// a tail as long again as the evidence took to come (a second report of the
// same loss, on the way the first or the sample took, takes about as long),
// at least a tenth of the grace and at most the grace, and stops.
func (c *check) drainLoss(l *loaded, refused int, delivered bool, fired time.Time) {
	grace := c.grace()
	complete := func() bool { return lostTotal(l.lost) >= uint64(refused) }
	if !delivered {
		c.drain(l, grace)
		return
	}
	if !c.drainUntil(l, grace, complete) {
		return // the whole grace went by with the outcome open
	}
	c.drain(l, min(grace, max(time.Since(fired), grace/10)))
}

// checkRingLost: records the kernel dropped reach the user as a lost count
// (with or without a CPU), and a reader never reports loss the kernel did
// not have.
func checkRingLost(c *check) {
	run := c.lossExperiment()
	if len(run.invented) > 0 {
		ev := run.invented[0]
		var cpu *int
		if ev.CPU >= 0 {
			cpu = &ev.CPU
		}
		c.failf(cpu, "", "the reader reported %d lost records (as CPU %d) while the kernel had dropped none", ev.Lost, ev.CPU)
	}
	var notes []string
	for _, p := range run.phases {
		switch n := p.total(); {
		case n == 0:
			c.failf(&p.cpu, "", "the loss never reached the user: %s", p)
		case n > uint64(p.refused):
			c.failf(&p.cpu, "", "the reader reported more loss than the kernel had: %s", p)
		}
		notes = append(notes, p.String())
	}
	c.passf("%s", strings.Join(notes, "; "))
}

// checkRingLostCPU: the lost count names the CPU whose ring lost the
// records. The kernel hands every reader that CPU (the lost record comes out
// of that CPU's ring); unlike a sample's CPU, which a program can put into
// the sample itself, it cannot be recovered once a reader drops it.
func checkRingLostCPU(c *check) {
	run := c.lossExperiment()
	var notes []string
	for _, p := range run.phases {
		var rightEvents, unknownEvents []protocol.Event
		for _, ev := range p.lost {
			switch ev.CPU {
			case p.cpu:
				rightEvents = append(rightEvents, ev)
			case protocol.CPUUnknown:
				unknownEvents = append(unknownEvents, ev)
			default:
				c.failf(&p.cpu, "", "lost records attributed to another CPU: %s", p)
			}
		}
		// Saturating sums: 2^64-1 and then 1 must not read as no loss.
		right, unknown := lostTotal(rightEvents), lostTotal(unknownEvents)
		switch {
		case right > 0:
		case unknown > 0:
			c.failf(&p.cpu, "", "the loss was reported without a CPU (cpu %d): %s", protocol.CPUUnknown, p)
		default:
			c.failf(&p.cpu, "", "no loss was reported at all (see RING-LOST): %s", p)
		}
		notes = append(notes, fmt.Sprintf("CPU %d: %d lost reported as CPU %d", p.cpu, right, p.cpu))
	}
	c.passf("%s", strings.Join(notes, "; "))
}
