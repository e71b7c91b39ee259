// Package process is the suite's client for adapter executables: it runs any
// program that speaks the perfconform adapter protocol (docs/ADAPTERS.md) and
// presents it as a suite.Loader.
//
// The client never trusts the adapter. Every wait is bounded (info, ready,
// shutdown), every line is parsed with the protocol types, and anything that
// is not the protocol — a crash, a hang, garbage, an unknown protocol version,
// an exit before it was asked to stop — is an *Error wrapping ErrAdapter with
// the adapter's stderr attached, distinct from a loader's refusal
// (*suite.LoadError). Each adapter runs in its own process group with
// Pdeathsig set, and the group is killed when the session closes or the
// context is cancelled, so no adapter process outlives its session.
package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/internal/nswrap"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
)

// Defaults for the Options.
const (
	DefaultInfoTimeout     = 10 * time.Second
	DefaultReadyTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultStderrTail      = 4 << 10
	DefaultPages           = 8
	// MaxLineSize bounds one protocol line; a longer line is an ErrAdapter.
	MaxLineSize = 4 << 20
)

type config struct {
	infoTimeout, readyTimeout, shutdownTimeout time.Duration
	stderrTail                                 int
	eventBuffer                                int
	cpus, cgroup                               string
}

// Option configures a Loader.
type Option func(*config)

// WithInfoTimeout bounds `ADAPTER info`.
func WithInfoTimeout(d time.Duration) Option { return func(c *config) { c.infoTimeout = d } }

// WithReadyTimeout bounds the wait from starting `ADAPTER load` to its ready
// (or error) line. Loading under TCG emulation is slow: be generous.
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyTimeout = d } }

// WithShutdownTimeout bounds the wait for the adapter to exit after stdin is
// closed (half of it) and after SIGTERM (the other half) before it is killed.
func WithShutdownTimeout(d time.Duration) Option { return func(c *config) { c.shutdownTimeout = d } }

// WithStderrTail sets how many trailing bytes of the adapter's stderr errors
// carry.
func WithStderrTail(n int) Option { return func(c *config) { c.stderrTail = n } }

// WithEventBuffer sets the capacity of Session.Events.
func WithEventBuffer(n int) Option { return func(c *config) { c.eventBuffer = n } }

// WithCPUs restricts the adapter to some CPUs, as a pod under Kubernetes'
// static CPU manager (or any taskset'd, cpuset-limited process) is, while it
// still sees every CPU in sysfs: the session wrapper joins the cgroup
// directory cgroup when it is not "" (one whose cpuset the caller has
// limited; the kernel narrows the affinity to it) and sets its affinity to
// cpus (a CPU list) before it starts the adapter, so the adapter and
// everything it starts inherit both. Needs the session wrapper. This process
// is not restricted: the suite still writes on every online CPU.
func WithCPUs(cpus, cgroup string) Option {
	return func(c *config) { c.cpus, c.cgroup = cpus, cgroup }
}

// Loader runs one adapter executable.
type Loader struct {
	path string
	cfg  config

	mu   sync.Mutex
	info *protocol.Info
	// neverReady is the first load that timed out waiting for ready; later
	// loads fail at once with it (a never-ready adapter would otherwise cost
	// the full ready timeout per requirement).
	neverReady *Error
}

var _ suite.Loader = (*Loader)(nil)

// New returns a suite.Loader that drives the adapter executable at path.
// Nothing is started until Info or Load is called.
func New(path string, opts ...Option) suite.Loader {
	cfg := config{
		infoTimeout:     DefaultInfoTimeout,
		readyTimeout:    DefaultReadyTimeout,
		shutdownTimeout: DefaultShutdownTimeout,
		stderrTail:      DefaultStderrTail,
		eventBuffer:     1024,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Loader{path: path, cfg: cfg}
}

// Path is the adapter executable.
func (l *Loader) Path() string { return l.path }

func (l *Loader) adapterErr(op string, stderr *tail, err error) *Error {
	e := &Error{Adapter: l.path, Op: op, Err: err}
	if stderr != nil {
		e.Stderr = stderr.String()
	}
	return e
}

// command prepares `ADAPTER args...` in its own process group, under the
// session wrapper when this executable can serve as one (see
// MaybeRunNamespaceWrapper; the wrapper is wrapperExecutable): then everything the adapter starts dies with it.
// With possible set the wrapper also bind-mounts that file over
// PossibleCPUsPath for the adapter.
func (l *Loader) command(possible string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(l.path, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if possible != "" {
		if _, err := os.Stat(possible); err != nil {
			return nil, fmt.Errorf("possible CPUs file: %w", err)
		}
	}
	memlock := memlockEnv()
	if wrapperAvailable.Load() {
		wrapper, err := wrapperExecutable()
		if err != nil {
			return nil, fmt.Errorf("session wrapper: %w", err)
		}
		cmd.Path = wrapper
		cmd.Env = append(os.Environ(), nswrap.EnvExec+"="+l.path, nswrap.EnvPossible+"="+possible)
		if memlock != "" {
			cmd.Env = append(cmd.Env, memlock)
			if nswrap.SeparateAccounts() {
				// Its own locked-memory account: adapters side by
				// side do not draw on one (nswrap.EnvAccount).
				cmd.Env = append(cmd.Env, nswrap.EnvAccount+"="+strconv.Itoa(nswrap.NextAccount()))
			}
		}
		if l.cfg.cpus != "" || l.cfg.cgroup != "" {
			var ids string
			if l.cfg.cpus != "" {
				set, err := topology.ParseCPUList(l.cfg.cpus)
				if err != nil {
					return nil, fmt.Errorf("adapter CPUs: %w", err)
				}
				ids = nswrap.FormatCPUs(set.CPUs())
			}
			cmd.Env = append(cmd.Env, nswrap.EnvCPUs+"="+ids, nswrap.EnvCgroup+"="+l.cfg.cgroup)
		}
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	} else if possible != "" {
		return nil, errors.New("a substituted possible-CPU file needs the session wrapper: call process.MaybeRunNamespaceWrapper first thing in main (or TestMain)")
	} else if l.cfg.cpus != "" || l.cfg.cgroup != "" {
		return nil, errors.New("restricting the adapter's CPUs needs the session wrapper: call process.MaybeRunNamespaceWrapper first thing in main (or TestMain)")
	} else if memlock != "" {
		return nil, errors.New("this process raised RLIMIT_MEMLOCK (the kernel charges BPF memory to it), and the adapter would inherit that, " +
			"hiding how its loader copes with the usual limit; giving it the old limit needs the session wrapper: " +
			"call process.MaybeRunNamespaceWrapper first thing in main (or TestMain)")
	}
	// Bound Wait even if something in the group keeps our pipes open
	// (under the session wrapper nothing can: the adapter's PID namespace
	// dies with it). The bound is the one an adapter has to be gone after
	// its session closed: a fixed second was too short for this process's
	// own reading of the pipes to finish in a one-CPU TCG guest with ten
	// adapters starting beside it ("info: exited: exec: WaitDelay expired
	// before I/O complete", every requirement of one loader an ERROR).
	cmd.WaitDelay = l.cfg.shutdownTimeout
	return cmd, nil
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		// The group id is the leader's pid (Setpgid with Pgid 0).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Info runs `ADAPTER info` and checks the line it prints. The result is
// cached: the first successful call decides.
func (l *Loader) Info(ctx context.Context) (protocol.Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.info != nil {
		return *l.info, nil
	}
	info, err := l.runInfo(ctx)
	if err != nil {
		return protocol.Info{}, err
	}
	l.info = &info
	return info, nil
}

func (l *Loader) runInfo(ctx context.Context) (protocol.Info, error) {
	stderr := &tail{max: l.cfg.stderrTail}
	cmd, err := l.command("", "info")
	if err != nil {
		return protocol.Info{}, l.adapterErr("info", nil, err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &limitedBuffer{buf: &stdout, max: MaxLineSize}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return protocol.Info{}, l.adapterErr("info", nil, err)
	}
	waitErr, timedOut, ctxErr := waitBounded(ctx, cmd, l.cfg.infoTimeout)
	switch {
	case ctxErr != nil:
		return protocol.Info{}, fmt.Errorf("adapter %s: info: %w", l.path, ctxErr)
	case timedOut:
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("no exit within %v", l.cfg.infoTimeout))
	case waitErr != nil:
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("exited: %w", waitErr))
	}
	line := bytes.TrimSpace(stdout.Bytes())
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("printed more than one line: %q", truncate(line)))
	}
	var info protocol.Info
	if err := json.Unmarshal(line, &info); err != nil {
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("info line %q is not a JSON Info object: %v", truncate(line), err))
	}
	if key := duplicateKey(line); key != "" {
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("info line %q has the key %q twice", truncate(line), key))
	}
	if info.Protocol != protocol.Version {
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("%w: adapter speaks %d, this suite speaks %d", ErrProtocolVersion, info.Protocol, protocol.Version))
	}
	if info.Loader == "" || info.Version == "" {
		return protocol.Info{}, l.adapterErr("info", stderr, fmt.Errorf("info line %q lacks loader or version", truncate(line)))
	}
	return info, nil
}

// waitBounded waits for cmd, killing its group after d or when ctx is done.
func waitBounded(ctx context.Context, cmd *exec.Cmd, d time.Duration) (waitErr error, timedOut bool, ctxErr error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		killGroup(cmd) // stragglers the adapter left behind
		return err, false, nil
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
		ctxErr = ctx.Err()
	}
	killGroup(cmd)
	<-done
	return nil, timedOut, ctxErr
}

// Load runs `ADAPTER load` and returns once the adapter printed ready. A
// loader's error line becomes a *suite.LoadError; anything else that keeps the
// adapter from getting ready is an *Error. The session ends, and the adapter
// is killed, when ctx is cancelled.
func (l *Loader) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	if _, err := l.Info(ctx); err != nil {
		return nil, err
	}
	l.mu.Lock()
	first := l.neverReady
	l.mu.Unlock()
	if first != nil {
		return nil, &Error{Adapter: l.path, Op: "load", Stderr: first.Stderr,
			Err: fmt.Errorf("%w: not started (an earlier load of this adapter timed out: %v)", ErrNeverReady, first.Err)}
	}
	perfMaps, mapsErr := PerfArrays(req.Object)
	pages := req.Pages
	if pages == 0 {
		pages = DefaultPages
	}
	stderr := &tail{max: l.cfg.stderrTail}
	cmd, err := l.command(req.PossibleCPUsFile, "load",
		"--object", req.Object, "--pin-dir", req.PinDir, "--pages", strconv.Itoa(pages))
	if err != nil {
		return nil, l.adapterErr("load", nil, err)
	}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, l.adapterErr("load", nil, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, l.adapterErr("load", nil, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, l.adapterErr("load", nil, err)
	}
	s := &session{
		l:       l,
		cmd:     cmd,
		object:  req.Object,
		want:    perfMaps,
		wantErr: mapsErr,
		stdin:   stdin,
		stderr:  stderr,
		events:  make(chan protocol.Event, l.cfg.eventBuffer),
		ready:   make(chan struct{}),
		failed:  make(chan struct{}),
		exited:  make(chan struct{}),
		closing: make(chan struct{}),
	}
	s.stopCtx = context.AfterFunc(ctx, func() { s.kill(ctx.Err()) })
	go s.run(bufio.NewReaderSize(stdout, 64<<10))

	timer := time.NewTimer(l.cfg.readyTimeout)
	defer timer.Stop()
	timedOut := false
	select {
	case <-s.ready:
		return s, nil
	case <-s.failed:
		// The loader refused the object; give it a bounded time to exit.
		select {
		case <-s.exited:
		case <-time.After(l.cfg.shutdownTimeout):
		}
	case <-s.exited:
	case <-timer.C:
		s.fail(fmt.Errorf("no ready line within %v", l.cfg.readyTimeout))
		timedOut = true
	case <-ctx.Done():
	}
	s.kill(nil)
	<-s.exited
	s.stopCtx()
	if err := s.err(); err != nil {
		var ae *Error
		if timedOut && errors.As(err, &ae) {
			l.mu.Lock()
			if l.neverReady == nil {
				l.neverReady = ae
			}
			l.mu.Unlock()
		}
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("adapter %s: load: %w", l.path, ctx.Err())
	}
	return nil, l.adapterErr("load", stderr, fmt.Errorf("exited (%v) without printing ready or error", s.waitErr))
}

type session struct {
	l       *Loader
	cmd     *exec.Cmd
	object  string
	want    []string // the object's perf event arrays, sorted
	wantErr error    // why want is unknown (the object does not parse)
	stdin   interface{ Close() error }
	stderr  *tail
	events  chan protocol.Event
	stopCtx func() bool

	ready, failed, exited, closing chan struct{}
	closeOnce                      sync.Once
	closeErr                       error

	mu        sync.Mutex
	broken    error            // first protocol violation (an *Error)
	loadErr   *suite.LoadError // the adapter's error line
	killedBy  error            // context error that killed the group
	waitErr   error            // cmd.Wait result
	sawReady  bool
	readyMaps []string
	stopAsked bool
	// endedUnasked: stdout ended before Close asked the adapter to stop.
	endedUnasked bool
}

func (s *session) Events() <-chan protocol.Event { return s.events }

// Maps returns the perf event arrays the adapter's ready line named. It is
// not part of suite.Session; reach it with a type assertion to
// interface{ Maps() []string }.
func (s *session) Maps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.readyMaps...)
}

// fail records a protocol violation and kills the adapter. It is the
// "load" step's failure until ready, the "stream"'s after it.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.broken == nil {
		op := "load"
		if s.sawReady {
			op = "stream"
		}
		s.broken = s.l.adapterErr(op, nil, err)
	}
	s.mu.Unlock()
	s.kill(nil)
}

// badLine is fail for a line that breaks the protocol (ErrLine).
func (s *session) badLine(err error) { s.fail(fmt.Errorf("%w: %w", ErrLine, err)) }

func (s *session) kill(cause error) {
	s.mu.Lock()
	if cause != nil && s.killedBy == nil {
		s.killedBy = cause
	}
	s.mu.Unlock()
	killGroup(s.cmd)
}

// Ended reports why the adapter ended on its own (a crash, an early exit, a
// protocol violation), with its stderr attached; nil while it runs. The suite
// asks before it judges the loader, so a dead adapter is an ERROR, not a FAIL.
func (s *session) Ended() error {
	// A line that broke the protocol ended the session the moment the
	// client saw it (it kills the adapter next): what the adapter's rings
	// do from then on, gone while it is torn down, is that line's doing.
	s.mu.Lock()
	broken := s.broken != nil
	s.mu.Unlock()
	if broken {
		return s.err()
	}
	select {
	case <-s.exited:
	default:
		// A child can keep the adapter's stdout open after the adapter
		// itself died: a zombie is dead too.
		if processIsZombie(s.cmd.Process.Pid) {
			return s.l.adapterErr("stream", s.stderr, errors.New("exited before the session was closed (a child process still holds its output open)"))
		}
		return nil
	}
	if err := s.err(); err != nil {
		return err
	}
	s.mu.Lock()
	early, waitErr := s.endedUnasked, s.waitErr
	s.mu.Unlock()
	if early {
		return s.l.adapterErr("stream", s.stderr, fmt.Errorf("exited (%v) before the session was closed", exitStatus(waitErr)))
	}
	return nil
}

// err is the session's failure, stderr attached, or nil.
func (s *session) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		if e, ok := s.broken.(*Error); ok {
			e.Stderr = s.stderr.String()
		}
		return s.broken
	}
	if s.loadErr != nil {
		return s.loadErr
	}
	return nil
}

// run reads the adapter's stdout until EOF, then reaps the adapter.
func (s *session) run(rd *bufio.Reader) {
	defer close(s.exited)
	defer close(s.events)
	for {
		line, err := readLine(rd)
		if err != nil {
			if !errors.Is(err, errEOF) {
				s.badLine(err)
			}
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !s.handle(line) {
			break
		}
	}
	s.mu.Lock()
	s.endedUnasked = !s.stopAsked
	s.mu.Unlock()
	s.waitErr = s.cmd.Wait()
	killGroup(s.cmd)
}

var errEOF = errors.New("eof")

func readLine(rd *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := rd.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLineSize {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineSize)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case len(line) > 0:
			return nil, fmt.Errorf("output ends in an unterminated line %q", truncate(line))
		default:
			return nil, errEOF
		}
	}
}

// wireEvent is a protocol line as read: CPU is a pointer so that a line
// without "cpu" is told from one saying CPU 0 (it shadows Event.CPU).
type wireEvent struct {
	protocol.Event
	CPU *int `json:"cpu"`
}

// handle processes one line; false stops reading.
func (s *session) handle(line []byte) bool {
	ev, err := s.parse(line)
	if err != nil {
		s.badLine(fmt.Errorf("line %q: %w", truncate(line), err))
		return false
	}
	s.mu.Lock()
	sawReady := s.sawReady
	s.mu.Unlock()
	switch ev.Event {
	case protocol.EventReady:
		if sawReady {
			s.badLine(errors.New("second ready line"))
			return false
		}
		if err := s.checkReadyMaps(ev.Maps); err != nil {
			s.badLine(err)
			return false
		}
		s.mu.Lock()
		s.sawReady = true
		s.readyMaps = ev.Maps
		s.mu.Unlock()
		close(s.ready)
	case protocol.EventSample, protocol.EventLost:
		select {
		case s.events <- ev:
		case <-s.closing: // nobody reads any more; drain until exit
		}
	case protocol.EventError:
		loadErr := &suite.LoadError{Stage: ev.Stage, Err: errors.New(ev.Message)}
		if ev.Stage == protocol.StageUnsupported {
			// Not a verdict on the loader: the suite SKIPs what needs the
			// object, with the reason (protocol.StageUnsupported).
			loadErr = &suite.LoadError{Stage: protocol.StageUnsupported, Err: fmt.Errorf("%w: %s", ErrUnsupported, ev.Message)}
		}
		s.mu.Lock()
		first := s.loadErr == nil
		if first {
			s.loadErr = loadErr
		}
		s.mu.Unlock()
		if first && !sawReady {
			close(s.failed)
		}
	}
	return true
}

// parse reads one line as a protocol event and applies the rules every line
// obeys: one JSON object and nothing after it, no key twice, a known event;
// sample and lost lines only after ready, for a map the ready line listed,
// with a "cpu" the protocol revision allows; error lines with a known stage.
func (s *session) parse(line []byte) (protocol.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(line, &w); err != nil {
		return protocol.Event{}, fmt.Errorf("not a JSON protocol event: %v", err)
	}
	if key := duplicateKey(line); key != "" {
		return protocol.Event{}, fmt.Errorf("the key %q appears twice", key)
	}
	ev := w.Event
	if w.CPU != nil {
		ev.CPU = *w.CPU
	}
	switch ev.Event {
	case protocol.EventReady:
	case protocol.EventSample, protocol.EventLost:
		s.mu.Lock()
		sawReady, ready := s.sawReady, s.readyMaps
		s.mu.Unlock()
		switch {
		case !sawReady:
			return ev, fmt.Errorf("%s line before ready", ev.Event)
		case ev.Map == "":
			return ev, fmt.Errorf("%s line without a map", ev.Event)
		case !slices.Contains(ready, ev.Map):
			return ev, fmt.Errorf("%s line for map %q, which the ready line did not list (it listed %q)", ev.Event, ev.Map, ready)
		case w.CPU == nil:
			return ev, fmt.Errorf("%s line without \"cpu\" (the CPU whose ring the record came from, or %d where the protocol allows it)", ev.Event, protocol.CPUUnknown)
		}
		if err := s.l.checkCPU(ev); err != nil {
			return ev, err
		}
	case protocol.EventError:
		switch ev.Stage {
		case protocol.StageLoad, protocol.StageReader, protocol.StageEnvironment:
		case protocol.StageUnsupported:
			if minor := s.l.minor(); minor < protocol.MinorUnsupported {
				return ev, fmt.Errorf("error line with stage %q, which protocol %d.%d does not allow (declare \"protocol_minor\": %d)",
					ev.Stage, protocol.Version, minor, protocol.MinorUnsupported)
			}
		default:
			return ev, fmt.Errorf("error line with unknown stage %q", ev.Stage)
		}
	default:
		return ev, fmt.Errorf("unknown event %q", ev.Event)
	}
	return ev, nil
}

// duplicateKey returns a key that line's top-level object holds twice, as
// encoding/json matches keys (escapes decoded, case ignored), or "". A
// second "cpu" would silently replace the first. line is valid JSON.
func duplicateKey(line []byte) string {
	var seen []string
	depth := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			start := i
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
			if depth != 1 {
				continue
			}
			j := i + 1
			for j < len(line) && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r' || line[j] == '\n') {
				j++
			}
			if j >= len(line) || line[j] != ':' {
				continue // a value, not a key
			}
			raw := line[start : i+1]
			key := string(raw[1 : len(raw)-1])
			if bytes.IndexByte(raw, '\\') >= 0 && json.Unmarshal(raw, &key) != nil {
				continue
			}
			key = strings.ToLower(key)
			if slices.Contains(seen, key) {
				return key
			}
			seen = append(seen, key)
		}
	}
	return ""
}

// minor is the protocol minor revision the adapter's info line declared (0
// before info ran).
func (l *Loader) minor() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.info == nil {
		return 0
	}
	return l.info.Minor
}

// checkCPU applies the protocol's rule for the cpu field of a sample or lost
// line: a CPU id, or protocol.CPUUnknown where the adapter's protocol
// revision allows it (lost lines always; samples from minor revision
// protocol.MinorCPUUnknownSamples on).
func (l *Loader) checkCPU(ev protocol.Event) error {
	switch {
	case ev.CPU >= 0:
		return nil
	case ev.CPU != protocol.CPUUnknown:
		return fmt.Errorf("%s line with cpu %d (want a CPU id or %d)", ev.Event, ev.CPU, protocol.CPUUnknown)
	case ev.Event == protocol.EventLost:
		return nil
	}
	if minor := l.minor(); minor < protocol.MinorCPUUnknownSamples {
		return fmt.Errorf("sample line with cpu %d, which protocol %d.%d does not allow (declare \"protocol_minor\": %d)",
			ev.CPU, protocol.Version, minor, protocol.MinorCPUUnknownSamples)
	}
	return nil
}

// Close asks the adapter to stop (stdin closed, then SIGTERM), kills its
// process group when it does not, and reports how the session ended: nil for
// a clean exit 0, a *suite.LoadError if the loader reported a failure after
// ready, an *Error for anything else (including an adapter that had already
// exited on its own).
func (s *session) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *session) close() error {
	defer s.stopCtx()
	s.mu.Lock()
	s.stopAsked = true
	s.mu.Unlock()
	close(s.closing)

	half := s.l.cfg.shutdownTimeout / 2
	s.stdin.Close()
	stuck := false
	select {
	case <-s.exited:
	case <-time.After(half):
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(s.l.cfg.shutdownTimeout - half):
			stuck = true
			killGroup(s.cmd)
			<-s.exited
		}
	}
	if err := s.err(); err != nil {
		return err
	}
	s.mu.Lock()
	killedBy, waitErr, exitedEarly := s.killedBy, s.waitErr, s.endedUnasked
	s.mu.Unlock()
	switch {
	case killedBy != nil:
		return fmt.Errorf("adapter %s: killed: %w", s.l.path, killedBy)
	case exitedEarly:
		return s.l.adapterErr("stream", s.stderr, fmt.Errorf("exited (%v) before the session was closed", exitStatus(waitErr)))
	case stuck:
		return s.l.adapterErr("shutdown", s.stderr, fmt.Errorf("%w: still running %v after stdin was closed and SIGTERM sent; killed", ErrShutdown, s.l.cfg.shutdownTimeout))
	case waitErr != nil:
		return s.l.adapterErr("shutdown", s.stderr, fmt.Errorf("%w: exited with %v after stdin was closed, want status 0", ErrShutdown, waitErr))
	}
	return nil
}

// PerfArrays lists the perf event arrays object declares, sorted: what a
// ready line must list (adapters/serve announces them for loaders that do
// not name their own).
func PerfArrays(object string) ([]string, error) {
	spec, err := ebpf.LoadCollectionSpec(object)
	if err != nil {
		return nil, err
	}
	var names []string
	for name, m := range spec.Maps {
		if m.Type == ebpf.PerfEventArray {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// checkReadyMaps checks a ready line's maps against the object: every perf
// event array the object declares, each once, nothing else. When the object
// cannot be parsed here (not an object cilium/ebpf reads) only duplicates
// are refused: the loader, not this client, judges such objects.
func (s *session) checkReadyMaps(maps []string) error {
	seen := map[string]bool{}
	for _, m := range maps {
		if seen[m] {
			return fmt.Errorf("%w: it lists %q twice: %q", ErrReady, m, maps)
		}
		seen[m] = true
	}
	if s.wantErr != nil {
		return nil
	}
	object := filepath.Base(s.object)
	for _, m := range maps {
		if !slices.Contains(s.want, m) {
			return fmt.Errorf("%w: it lists %q, which is not a perf event array of %s (it has %q)", ErrReady, m, object, s.want)
		}
	}
	for _, w := range s.want {
		if !seen[w] {
			return fmt.Errorf("%w: it lists %q and does not list %q, a perf event array of %s: list every perf event array a reader is open on", ErrReady, maps, w, object)
		}
	}
	return nil
}

func exitStatus(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

func truncate(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(bytes.TrimRight(b, "\n"))
}

// limitedBuffer stops collecting after max bytes (an adapter printing
// endlessly must not exhaust memory); the excess is dropped.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (w *limitedBuffer) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
		} else {
			w.buf.Write(p)
		}
	}
	return len(p), nil
}

// processIsZombie reports whether pid has exited and awaits reaping, from
// the state field of /proc/PID/stat.
func processIsZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain spaces or parentheses.
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] == 'Z'
}
