package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite/trigger"
)

// checks maps requirement IDs to their implementation.
var checks = map[string]func(*check){
	"SIZE-AUTO":            checkSizeAuto,
	"SIZE-KV-DEFAULT":      checkKVDefault,
	"SIZE-EXPLICIT-SMALL":  checkExplicitSmall,
	"SIZE-EXPLICIT-LARGE":  checkExplicitLarge,
	"SIZE-EXPLICIT-REPORT": checkExplicitReport,
	"SIZE-BAD":             checkBadSize,
	"SIZE-MULTI":           checkMulti,
	"SIZE-LEGACY":          checkLegacy,
	"RING-CREATE":          checkRingCreate,
	"RING-DELIVER":         checkRingDeliver,
	"RING-ATTRIBUTE":       checkRingAttribute,
	"RING-KEY":             checkRingKey,
	"RING-OFFLINE":         checkRingOffline,
	"RING-EXPLICIT-SMALL":  checkRingExplicitSmall,
	"RING-LOST":            checkRingLost,
	"RING-LOST-CPU":        checkRingLostCPU,
	"RING-HOTPLUG-OFFLINE": checkHotplugOffline,
	"RING-HOTPLUG-ONLINE":  checkHotplugOnline,
	"COMPAT-RELOAD":        checkReload,
	"COMPAT-FOREIGN-PIN":   checkForeignPin,
	"DEGRADE-POSSIBLE":     checkDegradePossible,
}

// check is one requirement being checked against one loader.
type check struct {
	ctx    context.Context
	env    *environment
	loader Loader
	info   protocol.Info
	req    Requirement
	p      *pending
	loads  []*loaded // sessions this check opened, for adapterEnded
	// pages, when not 0, replaces Config.Pages for this check's loads.
	pages int
	// shared is what the checks of this loader share in this run.
	shared *perLoader
	// share, when set, holds the loads the checks of one step share
	// (sharedLoads); group, the CPU changes the hotplug checks of several
	// loaders share (cpuGroup); toggles counts this check's changes.
	share   *sharedLoads
	group   *cpuGroup
	toggles int
	// cleanups run when the check ends (deferCleanup); abandoned says why
	// the runner stopped waiting for the check's body.
	cleanups  []func()
	abandoned string
}

// perLoader is what one loader's checks share within a run: experiments
// that several requirements judge, done once (see lossExperiment).
type perLoader struct {
	loss *lossShare
}

// failf records a loader failure with its evidence and ends the spec. When
// the loader's adapter died during the check, what it left behind proves
// nothing about the loader: the spec is an ERROR carrying why it died. An
// adapter that exited after reporting the loader's failure (an error line
// after ready: its reader broke) did not die: that failure joins the FAIL.
func (c *check) failf(cpu *int, errno string, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if err := c.adapterEnded(); err != nil {
		le := AsLoadError(err)
		if le == nil {
			c.errorf("%s", msg)
		}
		// The loader reported its own failure (an error line after ready)
		// and exited: a verdict on the loader, with its words.
		if !strings.Contains(msg, le.Err.Error()) {
			msg = fmt.Sprintf("%s; the loader then failed at the %s stage: %v", msg, le.Stage, le.Err)
		}
	}
	c.p.res.CPU, c.p.res.Errno = cpu, errno
	c.stop(false, c.withMasks(msg))
}

// errorf records that the environment (not the loader) failed, and ends the spec.
func (c *check) errorf(format string, args ...any) {
	c.p.isError = true
	msg := fmt.Sprintf(format, args...)
	if err := c.adapterEnded(); err != nil && !strings.Contains(msg, err.Error()) {
		msg = fmt.Sprintf("the adapter ended during the check: %v; then: %s", err, msg)
	}
	c.stop(true, c.withMasks(msg))
}

// failLoad fails the requirement because the loader refused or failed a
// load. A reader-stage failure carries the CPU and errno the loader's
// message names (e.g. "perf ring for CPU 4: no such device": CPU 4, ENODEV),
// so reports can show them like the kernel's own evidence.
func (c *check) failLoad(lerr *LoadError, format string, args ...any) {
	var cpu *int
	errno := ""
	if lerr.Stage == protocol.StageReader {
		cpu, errno = evidenceIn(lerr.Err.Error())
	}
	c.failf(cpu, errno, format, args...)
}

// endedSession is implemented by sessions that can end on their own, like
// adapter processes (adapters/process).
type endedSession interface{ Ended() error }

// adapterEnded reports why one of this check's adapter sessions ended on its
// own. A crash shortly after "ready" takes a moment to show, and a verdict
// wrongly blamed on a loader is worse than a second's wait, so it watches
// the sessions still open until a second after the newest of them became
// ready (AdapterCrashWindow), and at least one more poll: a check that
// judges right after a load waits out the window, one that judges later
// (after waiting for samples, most FAILs) has already waited it and only
// looks again. A death the check's own waits could have missed is still
// seen: missing evidence is judged only after a wait of at least 200 ms,
// longer than an exited adapter takes to be reaped. Sessions the check
// closed itself are looked at once: Close returns only after the adapter
// exited, so what they say is final.
// AdapterCrashWindow is how long after "ready" a session is watched for a
// crash before a verdict against its loader stands; adapterCrashPoll is how
// often it is looked at.
const (
	AdapterCrashWindow = time.Second
	adapterCrashPoll   = 100 * time.Millisecond
)

// SessionEnded reports why one of sessions ended on its own (Ended, with the
// adapter's stderr), looking at them every 100ms until deadline and at least
// once; nil if none did. Sessions that cannot end on their own (in-process
// loaders) are skipped. The suite asks it before a verdict against a loader,
// adapters/adaptercheck before a failed step.
func SessionEnded(sessions []Session, deadline time.Time) error {
	for ; ; time.Sleep(adapterCrashPoll) {
		for _, s := range sessions {
			if es, ok := s.(endedSession); ok {
				if err := es.Ended(); err != nil {
					return err
				}
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
	}
}

func (c *check) adapterEnded() error {
	var watched []Session
	deadline := time.Now().Add(adapterCrashPoll)
	for _, l := range c.loads {
		es, ok := l.sess.(endedSession)
		if !ok {
			continue
		}
		if l.closed {
			if err := es.Ended(); err != nil {
				return err
			}
			continue
		}
		watched = append(watched, l.sess)
		if l.readyAt.Add(AdapterCrashWindow).After(deadline) {
			deadline = l.readyAt.Add(AdapterCrashWindow)
		}
	}
	if len(watched) == 0 {
		return nil
	}
	return SessionEnded(watched, deadline)
}

// passf records the detail of a pass.
func (c *check) passf(format string, args ...any) {
	c.p.res.Detail = fmt.Sprintf(format, args...)
}

func (c *check) withMasks(msg string) string {
	t := c.env.topo
	return fmt.Sprintf("%s [possible %s, present %s, online %s]", msg, t.Possible, t.Present, t.Online)
}

// want is the size an auto-sized perf array must have here.
func (c *check) want() uint32 { return topology.PerfArraySize(c.env.topo.Possible) }

// loaded is one object loaded by the loader under test.
type loaded struct {
	fixture string
	pinDir  string
	sess    Session
	closed  bool
	onClose func(error) // told how the session closed
	// lost collects the lost events the session delivered while the suite
	// waited for samples (see fire and drain); checks reset it.
	lost []protocol.Event
	// readerErr is the first error event the session delivered (in-process
	// sessions report reader failures after load this way).
	readerErr string
	// eventsClosed: the session's event channel was seen closed.
	eventsClosed bool
	// readyAt is when the loader said the load was ready (Load returned).
	readyAt time.Time
	// shared: the session serves several checks of one step (sharedLoads);
	// they do not close it, the step does. fired memoizes fire on it.
	shared bool
	fired  map[string][]cpuOutcome
}

// load asks the loader to load a fixture. A refusal by the loader comes back
// as *LoadError; anything else (adapter crash, hang, garbage) ends the spec
// as ERROR, because it says nothing about the requirement. Within a step
// that shares loads (sharedLoads), a default load of a shared fixture is
// done once and its outcome, whatever it was, serves every check of the
// step.
func (c *check) load(fixture, pinDir, possibleFile string) (*loaded, *LoadError) {
	if c.share != nil && pinDir == "" && possibleFile == "" && c.pages == 0 {
		if s := c.share.entry(fixture); s != nil {
			return s.get(c)
		}
	}
	l, lerr, errMsg := c.loadNew(c.ctx, fixture, pinDir, possibleFile)
	if errMsg != "" {
		c.errorf("%s", errMsg)
	}
	c.skipUnsupported(lerr)
	if lerr == nil {
		c.track(l)
	}
	return l, lerr
}

// skipUnsupported SKIPs the check when the loader said it cannot express
// the object at all (protocol.StageUnsupported: bcc's C dialect has no perf
// array with only its type declared): a fact about the loader's language,
// neither a PASS nor a FAIL of what the object asks.
func (c *check) skipUnsupported(lerr *LoadError) {
	if lerr != nil && lerr.Stage == protocol.StageUnsupported {
		c.skip(fmt.Sprintf("the loader cannot express this object (%s stage): %v", lerr.Stage, lerr.Err))
	}
}

// track makes l one of this check's sessions: watched for a crash before a
// verdict (adapterEnded), closed when the check ends (unless shared).
func (c *check) track(l *loaded) {
	c.loads = append(c.loads, l)
	if !l.shared {
		l.onClose = c.sessionClosed
		c.deferCleanup(l.close)
	}
}

// loadNew is one load of fixture for the session context ctx. It returns
// the session, the loader's refusal, or (errMsg) why the load says nothing
// about any requirement.
func (c *check) loadNew(ctx context.Context, fixture, pinDir, possibleFile string) (*loaded, *LoadError, string) {
	path, ok := c.env.fixtures[fixture]
	if !ok {
		return nil, nil, fmt.Sprintf("fixture %s is not built into this binary", fixture)
	}
	if pinDir == "" {
		var err error
		if pinDir, err = c.env.newPinDir(c.req.ID + "-" + fixture); err != nil {
			return nil, nil, err.Error()
		}
	}
	if possibleFile == "" {
		possibleFile = c.env.cfg.PossibleCPUsFile
	}
	// The session's context bounds the whole session (process loaders
	// kill the adapter when it is done); loaders bound the load itself.
	pages := c.env.cfg.Pages
	if c.pages != 0 {
		pages = c.pages
	}
	before := PinsIn(pinDir)
	sess, err := c.loader.Load(ctx, LoadRequest{Object: path, PinDir: pinDir, Pages: pages, PossibleCPUsFile: possibleFile})
	if err != nil {
		err = JudgeEnvironment(err, pinDir, before)
		if le := AsLoadError(err); le != nil && le.Stage == protocol.StageEnvironment {
			// No requirement may pass or fail on a loader that never got to
			// the object (protocol.StageEnvironment).
			return nil, nil, fmt.Sprintf("the loader cannot run in this environment, so this says nothing about the requirement: %v", le.Err)
		} else if le != nil {
			return &loaded{fixture: fixture, pinDir: pinDir}, le, ""
		}
		return nil, nil, fmt.Sprintf("loader did not complete the load of %s: %v", fixture, err)
	}
	return &loaded{fixture: fixture, pinDir: pinDir, sess: sess, readyAt: time.Now()}, nil, ""
}

// mustLoad is load where a refusal fails the requirement.
func (c *check) mustLoad(fixture string) *loaded {
	l, lerr := c.load(fixture, "", "")
	if lerr != nil {
		c.failLoad(lerr, "loading %s failed at the %s stage: %v", fixture, lerr.Stage, lerr.Err)
	}
	return l
}

// loadForSizes is load for checks that judge map sizes only: a loader whose
// reader failed after its maps were pinned is still judged on the sizes (the
// reader failure is judged by the RING requirements).
func (c *check) loadForSizes(fixture string, maps ...string) (*loaded, string) {
	l, lerr := c.load(fixture, "", "")
	if lerr == nil {
		return l, ""
	}
	if lerr.Stage == protocol.StageReader {
		pinned := true
		for _, name := range maps {
			if _, err := os.Stat(filepath.Join(l.pinDir, name)); err != nil {
				pinned = false
			}
		}
		if pinned {
			return l, fmt.Sprintf(" (judged from the pinned maps; the reader failed: %v)", lerr.Err)
		}
	}
	c.failLoad(lerr, "loading %s failed at the %s stage: %v", fixture, lerr.Stage, lerr.Err)
	return nil, ""
}

func (l *loaded) close() {
	if l.shared {
		return // the step closes it (sharedLoads.close)
	}
	l.closeNow()
}

func (l *loaded) closeNow() {
	if l.sess != nil && !l.closed {
		err := l.sess.Close()
		l.closed = true
		if l.onClose != nil {
			l.onClose(err)
		}
	}
}

// closeSessions closes every session the check opened and has not closed.
func (c *check) closeSessions() {
	for _, l := range c.loads {
		l.close()
	}
}

// sessionClosed records a session that did not close cleanly: an adapter
// that exits non-zero after stdin closes, ignores the stop conditions or had
// already ended on its own broke the protocol, and the requirement becomes an
// ERROR carrying that evidence (recorder.finish) whatever the check found.
// A loader's reader error reported at the end (*LoadError) and an
// interrupted run are not the adapter's fault.
func (c *check) sessionClosed(err error) {
	if err == nil || AsLoadError(err) != nil || c.ctx.Err() != nil {
		return
	}
	if c.p.closeErr == nil {
		c.p.closeErr = err
	}
}

// kernelMap opens the map the loader pinned and returns what the kernel says
// about it. A missing pin is a protocol violation, so an ERROR.
func (c *check) kernelMap(l *loaded, name string) (*ebpf.Map, *ebpf.MapInfo) {
	path := filepath.Join(l.pinDir, name)
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		c.errorf("map %s of %s is not pinned at %s as the loader contract requires: %v", name, l.fixture, path, err)
	}
	c.deferCleanup(func() { m.Close() })
	info, err := m.Info()
	if err != nil {
		c.errorf("map %s: kernel map info: %v", name, err)
	}
	return m, info
}

// cpuOutcome is what happened to the sample the suite wrote on one CPU.
// Samples are recognised by their content (the trigger's nonce and the CPU
// the program ran on), never by the CPU the reader names, so a reader that
// does not name CPUs can still be judged on delivery.
type cpuOutcome struct {
	cpu       int
	errno     unix.Errno // bpf_perf_event_output's result; 0 = a live ring took it
	delivered bool
	reported  int // the CPU the loader's reader attributed the sample to (protocol.CPUUnknown: it did not say)
}

// String describes the delivery; attribution is described by attribution.
func (o cpuOutcome) String() string {
	switch {
	case o.errno != 0:
		return fmt.Sprintf("CPU %d: bpf_perf_event_output returned -%s (%s)", o.cpu, errnoName(o.errno), errnoMeaning(o.errno))
	case !o.delivered:
		return fmt.Sprintf("CPU %d: the kernel accepted the sample but the loader's reader never delivered it", o.cpu)
	}
	return fmt.Sprintf("CPU %d: delivered", o.cpu)
}

// ok: the kernel took the sample and the loader's reader delivered it.
func (o cpuOutcome) ok() bool { return o.errno == 0 && o.delivered }

// errnoName names an errno as the kernel source does (EOPNOTSUPP, which libc
// calls ENOTSUP: the two share a value on Linux).
func errnoName(e unix.Errno) string {
	if e == unix.EOPNOTSUPP {
		return "EOPNOTSUPP"
	}
	return unix.ErrnoName(e)
}

func errnoMeaning(e unix.Errno) string {
	switch e {
	case unix.ENOENT:
		return "no ring at this CPU's key"
	case unix.EOPNOTSUPP:
		return "the ring at this CPU's key belongs to another CPU"
	case unix.E2BIG:
		return "the array has no slot for this CPU"
	}
	return e.Error()
}

// ringCPUs are the CPUs that must have a live ring in a map declared with
// max_entries declared (0 = automatic): the online CPUs below the size the
// declaration calls for here, min(declared, highest possible + 1). It does
// not depend on what the loader made of the declaration, so an undersized map
// shows up as -E2BIG on the CPUs it left out.
func (c *check) ringCPUs(declared uint32) []int {
	limit := c.want()
	if declared != 0 && declared < limit {
		limit = declared
	}
	return topology.RingCPUs(c.env.topo, limit).CPUs()
}

// fire writes one sample on each CPU into the pinned map through the kernel
// and waits for the loader's reader to deliver them.
// On a shared session (sharedLoads) the outcome of a completed fire on the
// same CPUs is reused: the checks of a step judge one experiment.
func (c *check) fire(l *loaded, mapName string, m *ebpf.Map, cpus []int) []cpuOutcome {
	key := fmt.Sprint(mapName, cpus)
	if got, ok := l.fired[key]; ok {
		return slices.Clone(got)
	}
	trig := c.newTrigger(mapName, m)
	defer trig.Close()
	outcomes := c.fireWith(l, mapName, trig, cpus)
	if l.shared {
		if l.fired == nil {
			l.fired = map[string][]cpuOutcome{}
		}
		l.fired[key] = slices.Clone(outcomes)
	}
	return outcomes
}

func (c *check) newTrigger(mapName string, m *ebpf.Map) *trigger.Trigger {
	trig, err := trigger.New(m)
	if err != nil {
		c.errorf("load the suite's trigger program for map %s: %v", mapName, err)
	}
	return trig
}

// fireWith is fire with a trigger the caller keeps (checks that fire
// repeatedly load it once).
func (c *check) fireWith(l *loaded, mapName string, trig *trigger.Trigger, cpus []int) []cpuOutcome {
	outcomes := make([]cpuOutcome, len(cpus))
	byCPU := make(map[int]*cpuOutcome)
	waiting := 0
	for i, cpu := range cpus {
		outcomes[i] = cpuOutcome{cpu: cpu, reported: -1}
		byCPU[cpu] = &outcomes[i]
		err := trig.Fire(cpu)
		var errno unix.Errno
		switch {
		case err == nil:
			waiting++
		case errors.As(err, &errno) && errors.Is(err, trigger.ErrOutput):
			outcomes[i].errno = errno
		default:
			c.errorf("run the trigger on CPU %d: %v", cpu, err)
		}
	}
	if waiting == 0 || l.sess == nil || l.closed {
		return outcomes
	}
	deadline := time.NewTimer(c.env.cfg.Timeout)
	defer deadline.Stop()
	for waiting > 0 {
		select {
		case ev, ok := <-l.sess.Events():
			if !ok {
				c.sessionEnded(l, fmt.Sprintf("while %d samples were outstanding", waiting))
			}
			l.note(ev)
			if ev.Event != protocol.EventSample || ev.Map != mapName {
				continue
			}
			cpu, mine := trig.Match(ev.Data)
			o := byCPU[cpu]
			if !mine || o == nil || o.delivered {
				continue
			}
			o.delivered, o.reported = true, ev.CPU
			waiting--
		case <-deadline.C:
			return outcomes
		case <-c.ctx.Done():
			c.errorf("interrupted while waiting for samples: %v", c.ctx.Err())
		}
	}
	return outcomes
}

// requireDelivery fires on every ring CPU of the named map (declared with
// max_entries declared) and fails the requirement with the first bad CPU's
// evidence and a list of all.
func (c *check) requireDelivery(l *loaded, mapName string, declared uint32) string {
	m, info := c.kernelMap(l, mapName)
	cpus := c.ringCPUs(declared)
	if len(cpus) == 0 {
		c.errorf("map %s: no online CPU below %d to write on", mapName, declared)
	}
	outcomes := c.fire(l, mapName, m, cpus)
	var bad []string
	var first *cpuOutcome
	for i, o := range outcomes {
		if !o.ok() {
			bad = append(bad, o.String())
			if first == nil {
				first = &outcomes[i]
			}
		}
	}
	if first != nil {
		errno := ""
		if first.errno != 0 {
			errno = errnoName(first.errno)
		}
		cpu := first.cpu
		c.failf(&cpu, errno, "map %s (max_entries %d): %s", mapName, info.MaxEntries, strings.Join(bad, "; "))
	}
	return fmt.Sprintf("map %s: CPUs %s delivered", mapName, topology.CPUSetOf(cpus...))
}

func checkSizeAuto(c *check) {
	l, note := c.loadForSizes("perf_auto_kv", "events")
	m, info := c.kernelMap(l, "events")
	want := c.want()
	if info.MaxEntries == want {
		c.passf("max_entries %d = highest possible CPU %d + 1%s", want, c.env.topo.Possible.Highest(), note)
		return
	}
	msg := fmt.Sprintf("max_entries is %d, want %d = highest possible CPU %d + 1", info.MaxEntries, want, c.env.topo.Possible.Highest())
	// Where an online CPU has no slot, show the kernel refusing its sample.
	for _, cpu := range c.env.topo.Online.CPUs() {
		if uint32(cpu) >= info.MaxEntries {
			o := c.fire(l, "events", m, []int{cpu})[0]
			if o.errno != 0 {
				c.failf(&cpu, errnoName(o.errno), "%s; %s", msg, o)
			}
		}
	}
	if info.MaxEntries < want {
		// The evidence CPU is the first present CPU without a slot; when
		// every CPU left out is only possible (a hotplug slot), none is named.
		var cpu *int
		for _, p := range c.env.topo.Present.CPUs() {
			if uint32(p) >= info.MaxEntries {
				cpu = &p
				break
			}
		}
		c.failf(cpu, "", "%s: possible CPUs from %d up have no slot", msg, info.MaxEntries)
	}
	c.failf(nil, "", "%s", msg)
}

func checkKVDefault(c *check) {
	l, note := c.loadForSizes("perf_auto", "events")
	_, info := c.kernelMap(l, "events")
	if info.KeySize != 4 || info.ValueSize != 4 {
		c.failf(nil, "", "key/value size %d/%d in the kernel, want 4/4", info.KeySize, info.ValueSize)
	}
	c.passf("key/value size 4/4%s", note)
}

// explicitFixtures returns the perf_explicit_N fixtures with N below or equal
// to the automatic size (small) or above it (large).
func (c *check) explicitFixtures(large bool) []string {
	var out []string
	for _, n := range []uint32{1, 2, 4, 32, 128} {
		if (n > c.want()) == large {
			out = append(out, fmt.Sprintf("perf_explicit_%d", n))
		}
	}
	return out
}

func explicitSize(fixture string) uint32 {
	var n uint32
	fmt.Sscanf(fixture, "perf_explicit_%d", &n)
	return n
}

func checkExplicitSmall(c *check) {
	var notes, bad []string
	for _, fx := range c.explicitFixtures(false) {
		l, note := c.loadForSizes(fx, "events")
		_, info := c.kernelMap(l, "events")
		n := explicitSize(fx)
		if info.MaxEntries != n {
			bad = append(bad, fmt.Sprintf("%s: max_entries %d, declared %d", fx, info.MaxEntries, n))
		} else {
			notes = append(notes, fmt.Sprintf("%d kept%s", n, note))
		}
		l.close()
	}
	if len(bad) > 0 {
		c.failf(nil, "", "%s", strings.Join(bad, "; "))
	}
	c.passf("%s", strings.Join(notes, ", "))
}

func checkExplicitLarge(c *check) {
	fxs := c.explicitFixtures(true)
	if len(fxs) == 0 {
		c.passf("vacuous here: no explicit fixture is larger than %d", c.want())
		return
	}
	var notes []string
	for _, fx := range fxs {
		l := c.mustLoad(fx)
		notes = append(notes, fx+": "+c.requireDelivery(l, "events", explicitSize(fx)))
		l.close()
	}
	c.passf("%s", strings.Join(notes, "; "))
}

func checkExplicitReport(c *check) {
	fxs := c.explicitFixtures(true)
	if len(fxs) == 0 {
		c.passf("vacuous here: no explicit fixture is larger than %d", c.want())
		return
	}
	var notes []string
	for _, fx := range fxs {
		l, lerr := c.load(fx, "", "")
		if lerr != nil {
			notes = append(notes, fmt.Sprintf("%s: not loaded (%v)", fx, lerr))
			continue
		}
		_, info := c.kernelMap(l, "events")
		n := explicitSize(fx)
		if info.MaxEntries == n {
			notes = append(notes, fmt.Sprintf("%d kept", n))
		} else {
			notes = append(notes, fmt.Sprintf("%d clamped to %d", n, info.MaxEntries))
		}
		l.close()
	}
	c.passf("%s", strings.Join(notes, ", "))
}

func checkBadSize(c *check) {
	l, lerr := c.load("perf_badsize", "", "")
	if lerr == nil {
		detail := ""
		if _, info := c.kernelMap(l, "events"); info != nil {
			detail = fmt.Sprintf(" (the kernel map has key/value size %d/%d)", info.KeySize, info.ValueSize)
		}
		c.failf(nil, "", "perf_badsize declares value_size 8 and was loaded without error%s", detail)
	}
	msg := lerr.Error()
	if !strings.Contains(msg, "events") {
		c.failf(nil, "", "refused, but the error does not name the map \"events\": %q", msg)
	}
	c.passf("refused at the %s stage: %s", lerr.Stage, msg)
}

func checkMulti(c *check) {
	l, note := c.loadForSizes("perf_multi", "events_a", "events_b", "counts", "seen")
	want := c.want()
	var bad, notes []string
	for _, name := range []string{"events_a", "events_b"} {
		_, info := c.kernelMap(l, name)
		if info.MaxEntries != want || info.KeySize != 4 || info.ValueSize != 4 {
			bad = append(bad, fmt.Sprintf("%s: max_entries %d key/value %d/%d, want %d 4/4", name, info.MaxEntries, info.KeySize, info.ValueSize, want))
		}
	}
	others := []struct {
		name       string
		typ        ebpf.MapType
		key, value uint32
		max        uint32
	}{{"counts", ebpf.Array, 4, 8, 4}, {"seen", ebpf.Hash, 4, 8, 64}}
	for _, o := range others {
		_, info := c.kernelMap(l, o.name)
		if info.Type != o.typ || info.KeySize != o.key || info.ValueSize != o.value || info.MaxEntries != o.max {
			bad = append(bad, fmt.Sprintf("%s: %s %d/%d x%d, declared %s %d/%d x%d", o.name, info.Type, info.KeySize, info.ValueSize, info.MaxEntries, o.typ, o.key, o.value, o.max))
		}
	}
	if len(bad) > 0 {
		c.failf(nil, "", "%s%s", strings.Join(bad, "; "), note)
	}
	if note != "" {
		c.failf(nil, "", "sizes right, but no reader to deliver%s", note)
	}
	for _, name := range []string{"events_a", "events_b"} {
		notes = append(notes, c.requireDelivery(l, name, 0))
	}
	c.passf("both arrays max_entries %d; %s", want, strings.Join(notes, "; "))
}

func checkLegacy(c *check) {
	if !c.info.Has(protocol.CapLegacyMaps) {
		c.skip(fmt.Sprintf("%s declares no %q capability", c.info.Loader, protocol.CapLegacyMaps))
	}
	l, note := c.loadForSizes("perf_legacy", "events")
	_, info := c.kernelMap(l, "events")
	if info.MaxEntries != c.want() {
		c.failf(nil, "", "legacy map max_entries %d, want %d", info.MaxEntries, c.want())
	}
	c.passf("max_entries %d%s", info.MaxEntries, note)
}

func checkRingCreate(c *check) {
	l, lerr := c.load("perf_auto_kv", "", "")
	if lerr != nil {
		c.failLoad(lerr, "no reader: %s stage: %v", lerr.Stage, lerr.Err)
	}
	_, info := c.kernelMap(l, "events")
	c.passf("reader ready for max_entries %d", info.MaxEntries)
}

func checkRingKey(c *check) {
	l := c.mustLoad("perf_auto_kv")
	m, _ := c.kernelMap(l, "events")
	cpus := c.ringCPUs(0)
	outcomes := c.fire(l, "events", m, cpus)
	var bad []string
	var first *cpuOutcome
	for i, o := range outcomes {
		if o.errno != 0 {
			bad = append(bad, o.String())
			if first == nil {
				first = &outcomes[i]
			}
		}
	}
	if first != nil {
		cpu := first.cpu
		c.failf(&cpu, errnoName(first.errno), "%s", strings.Join(bad, "; "))
	}
	c.passf("a live ring at key c for every CPU c in %s", topology.CPUSetOf(cpus...))
}

func checkRingDeliver(c *check) {
	l := c.mustLoad("perf_auto_kv")
	c.passf("%s", c.requireDelivery(l, "events", 0))
}

func checkRingOffline(c *check) {
	offline := c.env.topo.Possible.Difference(c.env.topo.Online)
	l, lerr := c.load("perf_auto_kv", "", "")
	if offline.Empty() {
		if lerr != nil {
			c.failLoad(lerr, "%s stage: %v", lerr.Stage, lerr.Err)
		}
		c.passf("vacuous here: no possible CPU is offline")
		return
	}
	if lerr != nil {
		c.failLoad(lerr, "with possible CPUs %s offline the load failed at the %s stage: %v", offline, lerr.Stage, lerr.Err)
	}
	c.passf("offline %s skipped; %s", offline, c.requireDelivery(l, "events", 0))
}

func checkReload(c *check) {
	first := c.mustLoad("perf_auto_kv")
	first.close()
	again, lerr := c.load("perf_auto_kv", first.pinDir, "")
	if lerr != nil {
		c.failLoad(lerr, "second load against the maps pinned in %s failed at the %s stage: %v", first.pinDir, lerr.Stage, lerr.Err)
	}
	c.passf("reloaded; %s", c.requireDelivery(again, "events", 0))
}

func checkForeignPin(c *check) {
	size := uint32(128)
	if 2*c.want() > size {
		size = 2 * c.want()
	}
	dir, err := c.env.newPinDir(c.req.ID)
	if err != nil {
		c.errorf("%v", err)
	}
	fd, err := bpfsys.CreateMap(bpfsys.MapCreate{Type: uint32(ebpf.PerfEventArray), KeySize: 4, ValueSize: 4, MaxEntries: size, Name: "events"})
	if err != nil {
		c.errorf("create the foreign perf array: %v", err)
	}
	foreign, err := ebpf.NewMapFromFD(fd)
	if err != nil {
		c.errorf("wrap the foreign perf array: %v", err)
	}
	defer foreign.Close()
	if err := foreign.Pin(filepath.Join(dir, "events")); err != nil {
		c.errorf("pin the foreign perf array: %v", err)
	}
	l, lerr := c.load("perf_auto_kv", dir, "")
	if lerr != nil && lerr.Stage == protocol.StageReader {
		// The load (and so the pin) went through; only the reader failed.
		c.failLoad(lerr, "the load with a perf array pinned with max_entries %d (> %d needed) succeeded, but the reader failed: %v", size, c.want(), lerr.Err)
	}
	if lerr != nil {
		c.failLoad(lerr, "a perf array pinned with max_entries %d (> %d needed) was refused at the %s stage: %v", size, c.want(), lerr.Stage, lerr.Err)
	}
	_, pinned := c.kernelMap(l, "events")
	fid, _ := mustID(foreign)
	if pid, _ := pinned.ID(); pid != fid {
		c.failf(nil, "", "the pin at %s no longer holds the foreign map (id %d, now %d)", dir, fid, pid)
	}
	c.passf("reused the pinned max_entries %d map; %s", size, c.requireDelivery(l, "events", 0))
}

func mustID(m *ebpf.Map) (ebpf.MapID, bool) {
	info, err := m.Info()
	if err != nil {
		return 0, false
	}
	return info.ID()
}

func checkDegradePossible(c *check) {
	bogus := filepath.Join(c.env.tmp, "possible-unreadable")
	if err := os.WriteFile(bogus, []byte("not-a-cpu-list\n"), 0o644); err != nil {
		c.errorf("write the bogus possible file: %v", err)
	}
	l, lerr := c.load("perf_auto_kv", "", bogus)
	if lerr != nil {
		// A clear error says CPU detection is the problem: it names the
		// possible mask or talks about CPUs (libbpf: "failed to determine
		// number of system CPUs"). A bare EINVAL does neither.
		if msg := strings.ToLower(lerr.Error()); !strings.Contains(msg, "possible") && !strings.Contains(msg, "cpu") {
			c.failf(nil, "", "refused, but the error does not say CPU detection (the possible mask) is the problem: %q", lerr.Error())
		}
		c.passf("refused with %q", lerr.Error())
		return
	}
	_, info := c.kernelMap(l, "events")
	if info.MaxEntries < c.want() {
		c.failf(nil, "", "with the possible mask unreadable the loader silently sized the array to %d; this machine needs %d", info.MaxEntries, c.want())
	}
	c.passf("loaded with a fallback size %d (>= %d needed)", info.MaxEntries, c.want())
}
