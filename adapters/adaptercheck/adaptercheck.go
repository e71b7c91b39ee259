// Package adaptercheck walks an adapter executable through the adapter
// protocol (docs/ADAPTERS.md) step by step — info, load + ready, maps pinned
// by name, one sample triggered on every online CPU, clean shutdown — and says
// for each failed step what the protocol expects. It is `conform
// adapter-check` as a library.
//
// Every protocol rule is checked once, by the suite's own client
// (adapters/process): a ready line that does not match the object, a bad
// shutdown, garbage on stdout are that client's errors, so a check and a
// `conform run` never disagree. This package only adds the order of the steps,
// the fix hints, and what the suite judges elsewhere but a first check wants
// to see (samples delivered and attributed to their CPU), judged as the suite
// judges them: a protocol 1.1 sample without a CPU (cpu -1) is a NOTE, as the
// suite SKIPs RING-ATTRIBUTE for it, and each sample counts for the step of
// the CPU the kernel wrote it on, however late it comes.
package adaptercheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	bpffixtures "github.com/perfconform/perfconform/fixtures/bpf"
	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/suite/trigger"
)

// Fixture is the object Check loads unless Options.Object names another: the
// simplest fixture every loader should load, one BTF perf event array
// "events" with 4-byte key and value and no max_entries.
const Fixture = "perf_auto_kv"

// Defaults for the Options.
const (
	DefaultReadyTimeout  = process.DefaultReadyTimeout
	DefaultSampleTimeout = 10 * time.Second
	DefaultPages         = process.DefaultPages
)

// BPFFS is where Check pins: a fresh directory under it per check.
const BPFFS = "/sys/fs/bpf"

var (
	// ErrNotRoot: Check loads BPF programs and needs root.
	ErrNotRoot = errors.New("adapter-check loads BPF programs and needs root")
	// ErrNoBPFFS: there is no bpffs at BPFFS to pin under.
	ErrNoBPFFS = errors.New("not a bpffs")
	// ErrOptions: Options Check refuses before running anything.
	ErrOptions = errors.New("invalid adapter-check option")
)

// Options configure Check. Zero values take the defaults.
type Options struct {
	Object        string        // BPF object to load instead of Fixture (must have a perf event array named events)
	ReadyTimeout  time.Duration // how long the adapter may take to print ready
	SampleTimeout time.Duration // how long a triggered sample may take to arrive
	Pages         int           // --pages passed to the adapter
	// OnStep, if set, is called with each step as soon as it is known, in
	// order (a slow step then does not hide the ones before it).
	OnStep func(Step)
}

// Status is a step's outcome.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Note Status = "NOTE" // something worth knowing that is not a failure
)

// Step is one checked step. Name is one of "info", "load", "ready", "pin",
// "sample" (one per online CPU, plus a NOTE for each sample that arrived
// during a later CPU's step), "running" (the adapter exited on its own after
// ready), "stream" (it printed a line that breaks the protocol after ready,
// and the client stopped it there) and "shutdown".
type Step struct {
	Name    string
	Status  Status
	Message string // what was seen; for a FAIL, Err's text
	Err     error  // for a FAIL: what went wrong (errors.Is works: process.ErrReady, unix.E2BIG, ...)
	Fix     string // for a FAIL, when known: what the protocol expects instead
}

// String is the step as `conform adapter-check` prints it: "PASS  info      ..."
// and, for a failure with a hint, a second line "      ...  fix: ...".
func (s Step) String() string {
	line := fmt.Sprintf("%s  %-9s %s", s.Status, s.Name, s.Message)
	if s.Fix != "" {
		line += fmt.Sprintf("\n      %-9s fix: %s", "", s.Fix)
	}
	return line
}

// Report is every step Check took, in order.
type Report struct {
	Steps []Step
}

// Failed counts the failed steps.
func (r Report) Failed() int {
	n := 0
	for _, s := range r.Steps {
		if s.Status == Fail {
			n++
		}
	}
	return n
}

// String is the report as `conform adapter-check` prints its steps.
func (r Report) String() string {
	var b strings.Builder
	for _, s := range r.Steps {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

// checker collects steps.
type checker struct {
	ctx    context.Context
	r      Report
	onStep func(Step)
}

func (c *checker) add(s Step) {
	c.r.Steps = append(c.r.Steps, s)
	if c.onStep != nil {
		c.onStep(s)
	}
}

func (c *checker) pass(step, format string, args ...any) {
	c.add(Step{Name: step, Status: Pass, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) note(step, format string, args ...any) {
	c.add(Step{Name: step, Status: Note, Message: fmt.Sprintf(format, args...)})
}

// fail records a FAIL step, unless the check's context has ended: then
// the failure is the interruption's, not the adapter's (Check returns the
// context's error).
func (c *checker) fail(step string, err error, fix string) {
	if c.ctx.Err() != nil {
		return
	}
	c.add(Step{Name: step, Status: Fail, Message: err.Error(), Err: err, Fix: fix})
}

// Check runs the adapter executable at path against Fixture (or o.Object)
// through the suite's protocol client. A step the adapter fails is a FAIL step
// in the Report, and the check stops at the first failure later steps depend
// on; an error means the check itself could not run (options refused,
// wrapping ErrOptions; path not executable, not root, no bpffs, the fixture
// cannot be written), with the steps so far. A check ctx ends (Ctrl-C) stops
// with ctx's error and no FAIL step: what failed after ctx ended says nothing
// about the adapter. Nothing is left running or pinned when Check returns.
func Check(ctx context.Context, path string, o Options) (Report, error) {
	if err := o.defaults(); err != nil {
		return Report{}, err
	}
	c := &checker{ctx: ctx, onStep: o.OnStep}
	err := c.run(ctx, path, o)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("adapter-check interrupted after %d step(s): %w", len(c.r.Steps), ctx.Err())
	}
	return c.r, err
}

// defaults fills in zero values and refuses, wrapping ErrOptions, what
// would make a sound adapter fail, with the rules of `conform run`: waits
// below suite.MinTimeout (a stalled machine, not the adapter, would fail
// them) and a ring size the kernel refuses (perfring.CheckPages).
func (o *Options) defaults() error {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.SampleTimeout == 0 {
		o.SampleTimeout = DefaultSampleTimeout
	}
	if o.Pages == 0 {
		o.Pages = DefaultPages
	}
	if err := suite.CheckTimeout(o.ReadyTimeout); err != nil {
		return fmt.Errorf("%w: --ready-timeout %v: %w", ErrOptions, o.ReadyTimeout, err)
	}
	if err := suite.CheckTimeout(o.SampleTimeout); err != nil {
		return fmt.Errorf("%w: --sample-timeout %v: %w", ErrOptions, o.SampleTimeout, err)
	}
	if err := perfring.CheckPages(o.Pages); err != nil {
		return fmt.Errorf("%w: --pages %d: %w", ErrOptions, o.Pages, err)
	}
	return nil
}

func (c *checker) run(ctx context.Context, path string, o Options) error {
	abs, err := adapters.Executable(path)
	if err != nil {
		return fmt.Errorf("adapter %s: %w", path, err)
	}
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	removeStale()
	l := process.New(abs, process.WithReadyTimeout(o.ReadyTimeout))

	// 1. info
	info, err := l.Info(ctx)
	if err != nil {
		c.fail("info", err, fmt.Sprintf(`"ADAPTER info" must print exactly one JSON line such as {"loader":"aya","version":"0.13.1","protocol":%d,"capabilities":["pinning"]} and exit 0`, protocol.Version))
		return nil
	}
	c.pass("info", "loader %q version %q protocol %d capabilities %v", info.Loader, info.Version, info.Protocol, info.Capabilities)
	if !info.Has(protocol.CapPinning) {
		c.note("info", "no %q capability declared; load must still pin every map", protocol.CapPinning)
	}

	// 2. load and ready
	object, cleanup, err := checkObject(o.Object)
	if err != nil {
		return err
	}
	defer cleanup()
	pinDir, releasePins, err := checkPinDir()
	if err != nil {
		return err
	}
	defer func() { os.RemoveAll(pinDir); releasePins() }()
	before := suite.PinsIn(pinDir)
	s, err := l.Load(ctx, suite.LoadRequest{Object: object, PinDir: pinDir, Pages: o.Pages})
	err = suite.JudgeEnvironment(err, pinDir, before) // as conform run judges it
	if errors.Is(err, suite.ErrEnvironmentAfterPin) {
		c.fail("load", err, `report the stage "environment" only for refusals before the loader touched the object (nothing pinned yet); a failure after it pinned maps is the stage "load", and the suite judges the maps it left`)
		return nil
	}
	if le := suite.AsLoadError(err); le != nil {
		c.fail("load", err, fmt.Sprintf("the loader refused %s (one BTF perf event array \"events\", 4-byte key and value, no max_entries); if that is a loader limitation, the adapter is fine but every spec will fail", filepath.Base(object)))
		return nil
	}
	if errors.Is(err, process.ErrReady) {
		c.fail("ready", err, `list every perf event array the reader is open on, and nothing else: {"event":"ready","maps":["events"]}`)
		return nil
	}
	if err != nil {
		c.fail("load", err, `"ADAPTER load --object PATH --pin-dir DIR --pages N" must print {"event":"ready","maps":[...]} once every map is pinned and a reader is open, or {"event":"error","stage":"load"|"reader","message":...} and exit non-zero`)
		return nil
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	readyAt := time.Now()
	var maps []string
	if ms, ok := s.(interface{ Maps() []string }); ok {
		maps = ms.Maps()
	}
	c.pass("load", "ready, perf event arrays %v", maps)

	// 3. pinned by name
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "events"), nil)
	if err != nil {
		if c.endedOnItsOwn(s, readyAt) {
			return nil
		}
		c.fail("pin", fmt.Errorf("%s: %w", filepath.Join(pinDir, "events"), err), "pin every map under --pin-dir by its name (PIN_DIR/events), on bpffs, before printing ready")
		return nil
	}
	defer m.Close()
	mi, err := m.Info()
	if err != nil {
		return err
	}
	topo, err := topology.Read(topology.DefaultSysfsRoot)
	if err != nil {
		return err
	}
	c.pass("pin", "%s/events: max_entries %d (possible CPUs %s, online %s; sizing is judged by 'conform run', not here)", pinDir, mi.MaxEntries, topo.Possible, topo.Online)

	// 4. samples on every online CPU
	tr, err := trigger.New(m)
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, cpu := range topo.Online.CPUs() {
		if err := tr.Fire(cpu); err != nil {
			// An adapter that is gone took its rings with it: the
			// kernel's refusal is its end's doing, not the rings'.
			if c.endedOnItsOwn(s, readyAt) {
				return nil
			}
			c.fail("sample", err, fireHint(err, cpu))
			continue
		}
		ev, late, err := awaitTriggered(ctx, s.Events(), tr, cpu, o.SampleTimeout)
		for _, l := range late {
			c.note("sample", "CPU %d: its sample arrived late, during the step of CPU %d (not counted for it)", l, cpu)
		}
		if err != nil {
			if c.endedOnItsOwn(s, readyAt) {
				return nil
			}
			c.fail("sample", fmt.Errorf("CPU %d: %w", cpu, err), `forward every record as soon as it is read: {"event":"sample","map":"events","cpu":CPU,"data":"BASE64"}, one line each, flushed`)
			continue
		}
		switch {
		case ev.Map == "events" && ev.CPU == cpu:
			c.pass("sample", "CPU %d: delivered, attributed to CPU %d", cpu, ev.CPU)
		case ev.Map == "events" && ev.CPU == protocol.CPUUnknown && info.Minor >= protocol.MinorCPUUnknownSamples:
			// As in conform run, which SKIPs RING-ATTRIBUTE for such a
			// reader: samples are recognised by their content, so
			// delivery is judged and attribution is not. (The process
			// client refuses cpu -1 from a 1.0 adapter before this.)
			c.note("sample", "CPU %d: delivered without a CPU (cpu %d, allowed by protocol %d.%d); 'conform run' SKIPs RING-ATTRIBUTE for this reader",
				cpu, protocol.CPUUnknown, protocol.Version, protocol.MinorCPUUnknownSamples)
		default:
			c.fail("sample", fmt.Errorf("sample fired on CPU %d arrived as map %q CPU %d", cpu, ev.Map, ev.CPU), `"map" is the perf event array's name and "cpu" the CPU whose ring the reader took the record from`)
		}
	}

	// 5. clean shutdown
	start := time.Now()
	closed = true
	if err := s.Close(); errors.Is(err, process.ErrLine) {
		c.fail("stream", err, streamHint)
	} else if err != nil {
		c.fail("shutdown", err, "keep running until stdin closes or SIGTERM arrives, then exit 0 promptly (within 5s); never exit on your own")
	} else {
		c.pass("shutdown", "exited 0 %v after stdin closed", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// endedOnItsOwn reports, as a FAIL step "running", an adapter that exited by
// itself after ready (a crash, an early exit), with its exit status and
// stderr: the root cause of a missing pin or sample, which is then not
// reported (it says nothing about an adapter that was no longer there). It
// watches the session as the suite does before it blames a loader.
//
// A session the client ended itself, because the adapter printed a line that
// breaks the protocol (process.ErrLine), is the FAIL step "stream" naming
// that line instead: the adapter did not exit on its own.
func (c *checker) endedOnItsOwn(s suite.Session, readyAt time.Time) bool {
	err := suite.SessionEnded([]suite.Session{s}, readyAt.Add(suite.AdapterCrashWindow))
	switch {
	case err == nil:
		return false
	case errors.Is(err, process.ErrLine):
		c.fail("stream", err, streamHint)
	default:
		c.fail("running", err, "keep running with the reader open until stdin closes or SIGTERM arrives; never exit on your own (the adapter's stderr above says why it ended)")
	}
	return true
}

// streamHint is the fix for a line that breaks the protocol.
const streamHint = `print one JSON object per line and nothing else: {"event":"sample","map":MAP,"cpu":CPU,"data":"BASE64"} (standard base64 with padding) or {"event":"lost","map":MAP,"cpu":CPU,"lost":N} (N >= 0), MAP one the ready line listed, "cpu" always present; the suite stops an adapter at the first line that is not the protocol`

// fireHint explains the errno of a failed bpf_perf_event_output on cpu.
func fireHint(err error, cpu int) string {
	switch {
	case errors.Is(err, unix.E2BIG):
		return fmt.Sprintf("the perf event array has no slot for CPU %d: size it to the highest possible CPU id + 1", cpu)
	case errors.Is(err, unix.ENOENT):
		return fmt.Sprintf("no ring is filed at key %d: the reader must open a ring on every online CPU and store it at key = CPU id", cpu)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Sprintf("the ring filed at key %d belongs to another CPU: store CPU c's ring at key c", cpu)
	}
	return ""
}

// awaitTriggered returns the first event carrying tr's sample fired on cpu
// (the kernel writes the CPU it ran on into the sample). Samples tr fired
// on other CPUs that arrive meanwhile are late ones of earlier steps: their
// CPUs are returned in late, and they are neither credited to nor blamed on
// this step.
func awaitTriggered(ctx context.Context, events <-chan protocol.Event, tr *trigger.Trigger, cpu int, timeout time.Duration) (ev protocol.Event, late []int, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ev, late, errors.New("the adapter's event stream ended before the sample arrived")
			}
			if ev.Event != protocol.EventSample {
				continue
			}
			if from, ours := tr.Match(ev.Data); ours && from == cpu {
				return ev, late, nil
			} else if ours {
				late = append(late, from)
			}
		case <-timer.C:
			return protocol.Event{}, late, fmt.Errorf("no sample line within %v", timeout)
		case <-ctx.Done():
			return protocol.Event{}, late, ctx.Err()
		}
	}
}

// checkDirPrefix names the directories of a check: its pin directory under
// BPFFS and its fixture's in the temporary directory. Each is locked while
// its check runs (filelock.MkdirLocked), so the next check removes those of
// a check that was killed (kill -9) before it could.
const checkDirPrefix = "conform-adapter-check-"

// checkObject returns the object to load: object, or the fixture written to
// a temporary file.
func checkObject(object string) (string, func(), error) {
	if object != "" {
		abs, err := filepath.Abs(object)
		return abs, func() {}, err
	}
	b, err := bpffixtures.Bytes(Fixture)
	if err != nil {
		return "", nil, err
	}
	dir, release, err := filelock.MkdirLocked("", checkDirPrefix)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir); release() }
	path := filepath.Join(dir, Fixture+".o")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// checkPinDir makes a fresh directory on the bpffs at BPFFS.
func checkPinDir() (string, func(), error) {
	if err := bpfsys.CheckBPFFS(BPFFS); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrNoBPFFS, err)
	}
	return filelock.MkdirLocked(BPFFS, checkDirPrefix)
}

// removeStale removes the directories of checks that were killed: their
// maps stay pinned, and their fixture in the temporary directory, until
// then.
func removeStale() {
	filelock.RemoveStale(BPFFS, checkDirPrefix)
	filelock.RemoveStale("", checkDirPrefix)
}
