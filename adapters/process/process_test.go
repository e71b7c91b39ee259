package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/suite"
)

var bins map[string]string

func TestMain(m *testing.M) {
	process.MaybeRunNamespaceWrapper()
	dir, err := os.MkdirTemp("", "process-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = adapters.BuildTestdata(context.Background(), dir)
	if err == nil {
		var p string
		p, err = mustGet("cilium-ebpf").Build(context.Background(), dir)
		bins["cilium-ebpf"] = p
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "building adapters:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func mustGet(name string) adapters.Adapter {
	a, err := adapters.Get(name)
	if err != nil {
		panic(err)
	}
	return a
}

// running lists live (non-zombie) processes whose executable is path.
func running(path string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == path {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// requireNoneRunning fails if a process of path is still alive. Killed
// processes need a moment to be reaped, hence the short grace period.
func requireNoneRunning(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		pids := running(path)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of %s still running: %v", path, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pinDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/sys/fs/bpf", "process-test")
	if err != nil {
		t.Skipf("need a bpffs at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf): %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func object(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../testdata/perf_simple.o")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNegativeControls(t *testing.T) {
	opts := []process.Option{
		process.WithInfoTimeout(2 * time.Second),
		process.WithReadyTimeout(time.Second),
		process.WithShutdownTimeout(time.Second),
	}
	for _, tc := range []struct {
		name string
		// stage at which the control must fail: "info", "load" or "close".
		stage  string
		stderr string // must appear in the error (the adapter's stderr)
		also   error  // must also be in the chain
		msg    string // must appear in the error
	}{
		{name: "badversion", stage: "info", stderr: "speaking protocol 99", also: process.ErrProtocolVersion, msg: "adapter speaks 99"},
		{name: "hang", stage: "load", stderr: "never getting ready", msg: "no ready line within 1s"},
		{name: "garbage", stage: "load", stderr: "printing garbage", msg: "not a JSON protocol event"},
		{name: "crash", stage: "close", stderr: "crashing on purpose", msg: "before the session was closed"},
		{name: "earlyexit", stage: "close", stderr: "leaving right after ready", msg: "before the session was closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := bins[tc.name]
			l := process.New(path, opts...)
			ctx := context.Background()
			start := time.Now()
			var err error
			if _, err = l.Info(ctx); err == nil && tc.stage != "info" {
				var s suite.Session
				s, err = l.Load(ctx, suite.LoadRequest{Object: object(t), PinDir: t.TempDir(), Pages: 1})
				if err == nil {
					if tc.stage != "close" {
						s.Close()
						t.Fatalf("Load succeeded, want it to fail")
					}
					// The adapter ends on its own: Events must close.
					select {
					case <-drain(s.Events()):
					case <-time.After(5 * time.Second):
						t.Error("Events not closed 5s after the adapter should have died")
					}
					err = s.Close()
				}
			}
			if time.Since(start) > 8*time.Second {
				t.Errorf("took %v: a broken adapter must not stall the suite", time.Since(start))
			}
			if !errors.Is(err, process.ErrAdapter) {
				t.Fatalf("error = %v, want ErrAdapter", err)
			}
			if suite.AsLoadError(err) != nil {
				t.Errorf("broken adapter reported as a loader refusal: %v", err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("error = %v, want it to wrap %v", err, tc.also)
			}
			var pe *process.Error
			if !errors.As(err, &pe) || !strings.Contains(pe.Stderr, tc.stderr) {
				t.Errorf("error lacks the adapter's stderr %q: %v", tc.stderr, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			requireNoneRunning(t, path)
		})
	}
}

func drain[T any](ch <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

func TestContextCancelKillsAdapter(t *testing.T) {
	path := bins["hang"]
	l := process.New(path, process.WithReadyTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Load(ctx, suite.LoadRequest{Object: object(t), PinDir: t.TempDir(), Pages: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load = %v, want context.DeadlineExceeded", err)
	}
	if errors.Is(err, process.ErrAdapter) {
		t.Errorf("a cancelled context is not the adapter's fault: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Load returned %v after cancel", d)
	}
	requireNoneRunning(t, path)
}

func TestContextCancelEndsSession(t *testing.T) {
	path := bins["cilium-ebpf"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := process.New(path).Load(ctx, suite.LoadRequest{Object: object(t), PinDir: pinDir(t), Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-drain(s.Events()):
	case <-time.After(5 * time.Second):
		t.Fatal("session still delivering 5s after its context was cancelled")
	}
	if err := s.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}
	requireNoneRunning(t, path)
}

func TestLoaderRefusalIsLoadError(t *testing.T) {
	path := bins["cilium-ebpf"]
	_, err := process.New(path).Load(context.Background(), suite.LoadRequest{
		Object: filepath.Join(t.TempDir(), "missing.o"), PinDir: t.TempDir(), Pages: 1,
	})
	le := suite.AsLoadError(err)
	if le == nil || le.Stage != "load" {
		t.Fatalf("Load of a missing object = %v, want a *suite.LoadError at stage load", err)
	}
	if errors.Is(err, process.ErrAdapter) {
		t.Errorf("a loader's refusal reported as a broken adapter: %v", err)
	}
	if !strings.Contains(err.Error(), "missing.o") {
		t.Errorf("refusal %q does not carry the loader's message", err)
	}
	requireNoneRunning(t, path)
}

func TestInfoRejectsMalformedLines(t *testing.T) {
	for _, tc := range []struct{ name, script, msg string }{
		{"not json", "echo 'cilium-ebpf 1.0'", "not a JSON Info object"},
		{"no loader", `echo '{"version":"1","protocol":1}'`, "lacks loader or version"},
		{"trailing junk", `echo '{"loader":"a","version":"1","protocol":1} x'`, "not a JSON Info object"},
		{"key twice", `echo '{"loader":"a","version":"1","protocol":1,"Loader":"b"}'`, `has the key "loader" twice`},
		{"two lines", `echo '{"loader":"a","version":"1","protocol":1}'; echo '{}'`, "more than one line"},
		{"exit status", `echo '{"loader":"a","version":"1","protocol":1}'; echo oops >&2; exit 3`, "exit status 3"},
		{"hang", "exec sleep 60", "no exit within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adapter")
			if err := os.WriteFile(path, []byte("#!/bin/sh\n[ \"$1\" = info ] || exit 9\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := process.New(path, process.WithInfoTimeout(500*time.Millisecond)).Info(context.Background())
			if !errors.Is(err, process.ErrAdapter) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Info = %v, want ErrAdapter saying %q", err, tc.msg)
			}
		})
	}
}

func TestPossibleCPUsFileIsWhatTheLoaderSees(t *testing.T) {
	path := bins["cilium-ebpf"]
	possible := filepath.Join(t.TempDir(), "possible")
	if err := os.WriteFile(possible, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := pinDir(t)
	s, err := process.New(path).Load(context.Background(), suite.LoadRequest{
		Object: object(t), PinDir: dir, Pages: 1, PossibleCPUsFile: possible,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	got := mapMaxEntries(t, filepath.Join(dir, "events"))
	if got != 1 {
		t.Fatalf("cilium/ebpf sized events to %d with possible CPUs \"0\", want 1: the replacement file was not seen", got)
	}
	// The host's own view is untouched.
	host, err := os.ReadFile(process.PossibleCPUsPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(host)) == "0" {
		t.Skip("host has a single possible CPU: cannot tell the namespaces apart")
	}
	requireNoneRunning(t, path)
}

// TestShutdownViolations: an adapter that exits non-zero after stdin closes,
// or ignores both stop conditions, breaks the protocol; Close says so with
// ErrShutdown (the one check `conform run` and `adapter-check` share).
func TestShutdownViolations(t *testing.T) {
	for _, tc := range []struct{ name, msg string }{
		{"exit3", "exit status 3"},
		{"ignorestop", "still running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := bins[tc.name]
			s, err := process.New(path, process.WithShutdownTimeout(time.Second)).Load(context.Background(),
				suite.LoadRequest{Object: object(t), PinDir: pinDir(t), Pages: 1})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Close()
			if !errors.Is(err, process.ErrAdapter) || !errors.Is(err, process.ErrShutdown) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Close = %v, want ErrAdapter and ErrShutdown saying %q", err, tc.msg)
			}
			requireNoneRunning(t, path)
		})
	}
}

// TestReadyMapsChecked: the ready line must list exactly the object's perf
// event arrays; a map the object does not have, or none, is a protocol
// violation (ErrReady), not a session.
func TestReadyMapsChecked(t *testing.T) {
	script := func(maps string) string {
		return "#!/bin/sh\ncase $1 in\ninfo) echo '{\"loader\":\"s\",\"version\":\"1\",\"protocol\":1}';;\n" +
			"load) echo '{\"event\":\"ready\",\"maps\":" + maps + "}'; exec cat >/dev/null;;\nesac\n"
	}
	for _, tc := range []struct{ name, maps, msg string }{
		{"unknown map", `["events","ghost"]`, `"ghost"`},
		{"none", `[]`, `does not list "events"`},
		{"missing field", `null`, `does not list "events"`},
		{"twice", `["events","events"]`, `twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adapter")
			if err := os.WriteFile(path, []byte(script(tc.maps)), 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := process.New(path).Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: t.TempDir(), Pages: 1})
			if err == nil {
				s.Close()
				t.Fatal("Load accepted the ready line")
			}
			if !errors.Is(err, process.ErrAdapter) || !errors.Is(err, process.ErrReady) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Load = %v, want ErrAdapter and ErrReady saying %s", err, tc.msg)
			}
		})
	}
	t.Run("badready control", func(t *testing.T) {
		s, err := process.New(bins["badready"]).Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: pinDir(t), Pages: 1})
		if err == nil {
			s.Close()
			t.Fatal("Load accepted a ready line naming ghost")
		}
		if !errors.Is(err, process.ErrReady) || !strings.Contains(err.Error(), "badready control") {
			t.Fatalf("Load = %v, want ErrReady with the adapter's stderr", err)
		}
		requireNoneRunning(t, bins["badready"])
	})
}

// TestSessionReapsEverything: a helper the adapter started in a session of
// its own (setsid) escapes the process group; it must still die with the
// adapter session.
func TestSessionReapsEverything(t *testing.T) {
	path := bins["orphan"]
	for i := 0; i < 2; i++ {
		s, err := process.New(path).Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: pinDir(t), Pages: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	requireNoneRunning(t, path)
}

// TestReadyTimeoutFailsFast: after one load of an adapter timed out waiting
// for ready, later loads of the same loader fail at once with that evidence
// instead of waiting the full timeout again.
func TestReadyTimeoutFailsFast(t *testing.T) {
	path := bins["hang"]
	l := process.New(path, process.WithReadyTimeout(time.Second))
	req := suite.LoadRequest{Object: object(t), PinDir: t.TempDir(), Pages: 1}
	_, first := l.Load(context.Background(), req)
	if !errors.Is(first, process.ErrAdapter) || !strings.Contains(first.Error(), "no ready line within 1s") {
		t.Fatalf("first Load = %v, want a ready timeout", first)
	}
	start := time.Now()
	_, again := l.Load(context.Background(), req)
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("second Load took %v, want an immediate failure", d)
	}
	if !errors.Is(again, process.ErrAdapter) || !errors.Is(again, process.ErrNeverReady) ||
		!strings.Contains(again.Error(), "no ready line within 1s") || !strings.Contains(again.Error(), "never getting ready") {
		t.Fatalf("second Load = %v, want ErrNeverReady carrying the first timeout and its stderr", again)
	}
	requireNoneRunning(t, path)
}

// TestSampleCPURule: a sample may say cpu -1 only from protocol minor
// revision 1 on; lost lines may always; any other negative CPU is a broken
// adapter. The adapters are shell scripts printing fixed lines.
func TestSampleCPURule(t *testing.T) {
	const ready = `echo '{"event":"ready","maps":["events"]}'`
	for _, tc := range []struct {
		name, info, line string
		broken           string // "" = the event must arrive
	}{
		{"sample cpu -1, minor 1", `{"loader":"a","version":"1","protocol":1,"protocol_minor":1}`,
			`{"event":"sample","map":"events","cpu":-1,"data":"AAAA"}`, ""},
		{"sample cpu -1, no minor", `{"loader":"a","version":"1","protocol":1}`,
			`{"event":"sample","map":"events","cpu":-1,"data":"AAAA"}`, "does not allow"},
		{"lost cpu -1, no minor", `{"loader":"a","version":"1","protocol":1}`,
			`{"event":"lost","map":"events","cpu":-1,"lost":2}`, ""},
		{"sample cpu -2", `{"loader":"a","version":"1","protocol":1,"protocol_minor":1}`,
			`{"event":"sample","map":"events","cpu":-2,"data":"AAAA"}`, "cpu -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adapter")
			script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = info ]; then echo '%s'; exit 0; fi\n%s\necho '%s'\nexec cat >/dev/null\n",
				tc.info, ready, tc.line)
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := process.New(path).Load(context.Background(), suite.LoadRequest{Object: "x.o", PinDir: t.TempDir(), Pages: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ev, ok := <-s.Events()
			if tc.broken == "" {
				if !ok || ev.CPU != -1 {
					t.Fatalf("event = %+v, %v; want the line with cpu -1", ev, ok)
				}
				return
			}
			if ok {
				t.Fatalf("event %+v delivered, want a protocol violation", ev)
			}
			if err := s.Close(); !errors.Is(err, process.ErrAdapter) || !strings.Contains(err.Error(), tc.broken) {
				t.Fatalf("Close = %v, want ErrAdapter saying %q", err, tc.broken)
			}
		})
	}
}

// TestStreamLineRules: after ready every line is one JSON protocol event and
// nothing else. A line that is not (invalid base64, a negative count,
// trailing junk, a key twice, a map the ready line did not list, no "cpu")
// is a protocol break: the client stops the adapter there, the event is not
// delivered, and Ended and Close say why at once (ErrLine), never as an
// adapter that exited on its own. The adapters are shell scripts printing
// fixed lines.
func TestStreamLineRules(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		broken     string // "" = the event must arrive
	}{
		{"valid sample", `{"event":"sample","map":"events","cpu":1,"data":"AAAA"}`, ""},
		{"valid lost", `{"event":"lost","map":"events","cpu":0,"lost":3}`, ""},
		{"a key inside a string is no key", `{"event":"lost","map":"events","cpu":0,"lost":1,"message":"\"cpu\":2, \\\"cpu\":3"}`, ""},
		{"invalid base64", `{"event":"sample","map":"events","cpu":0,"data":"%%not base64%%"}`, "illegal base64"},
		{"negative lost count", `{"event":"lost","map":"events","cpu":0,"lost":-1}`, "number -1"},
		{"trailing junk", `{"event":"sample","map":"events","cpu":0,"data":"AAAA"} and more`, "after top-level value"},
		{"second object", `{"event":"lost","map":"events","cpu":0,"lost":1}{"event":"lost","map":"events","cpu":0,"lost":1}`, "after top-level value"},
		{"duplicate cpu", `{"event":"sample","map":"events","cpu":0,"data":"AAAA","cpu":1}`, `"cpu" appears twice`},
		{"duplicate cpu, other case", `{"event":"sample","map":"events","cpu":0,"CPU":1,"data":"AAAA"}`, `"cpu" appears twice`},
		{"duplicate lost, escaped", `{"event":"lost","map":"events","cpu":0,"lost":1,"l\u006fst":7}`, `"lost" appears twice`},
		{"undeclared map", `{"event":"sample","map":"ghost","cpu":0,"data":"AAAA"}`, `map "ghost", which the ready line did not list`},
		{"sample without cpu", `{"event":"sample","map":"events","data":"AAAA"}`, `sample line without "cpu"`},
		{"lost without cpu", `{"event":"lost","map":"events","lost":2}`, `lost line without "cpu"`},
		{"unknown event", `{"event":"hello","map":"events","cpu":0}`, `unknown event "hello"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adapter")
			script := "#!/bin/sh\nif [ \"$1\" = info ]; then echo '{\"loader\":\"a\",\"version\":\"1\",\"protocol\":1}'; exit 0; fi\n" +
				"echo '{\"event\":\"ready\",\"maps\":[\"events\"]}'\nprintf '%s\\n' '" + tc.line + "'\nexec cat >/dev/null\n"
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			s, err := process.New(path, process.WithShutdownTimeout(time.Second)).Load(context.Background(),
				suite.LoadRequest{Object: object(t), PinDir: t.TempDir(), Pages: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ev, ok := <-s.Events()
			if tc.broken == "" {
				if !ok || ev.Map != "events" {
					t.Fatalf("event = %+v, %v; want the line's event", ev, ok)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close = %v", err)
				}
				return
			}
			if ok {
				t.Fatalf("event %+v delivered, want a protocol violation", ev)
			}
			ended := s.(interface{ Ended() error }).Ended()
			for _, err := range []error{ended, s.Close()} {
				if !errors.Is(err, process.ErrAdapter) || !errors.Is(err, process.ErrLine) ||
					!strings.Contains(err.Error(), tc.broken) || !strings.Contains(err.Error(), ": stream: ") {
					t.Fatalf("Ended/Close = %v, want ErrAdapter and ErrLine at the stream saying %q", err, tc.broken)
				}
			}
			requireNoneRunning(t, path)
		})
	}
}

// TestUnsupportedStage: from protocol minor revision 2 on an adapter may say
// its loader cannot express the object at all; the client makes it an
// unsupported-stage LoadError (the suite SKIPs, with the reason; never a
// FAIL) carrying ErrUnsupported. Before minor 2 the stage is a protocol violation.
func TestUnsupportedStage(t *testing.T) {
	const line = `{"event":"error","stage":"unsupported","message":"perf_auto: bcc cannot express it"}`
	for _, tc := range []struct {
		name, info string
		broken     bool
	}{
		{"minor 2", `{"loader":"a","version":"1","protocol":1,"protocol_minor":2}`, false},
		{"minor 1", `{"loader":"a","version":"1","protocol":1,"protocol_minor":1}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "adapter")
			script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = info ]; then echo '%s'; exit 0; fi\necho '%s'\nexit 1\n", tc.info, line)
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := process.New(path).Load(context.Background(), suite.LoadRequest{Object: "x.o", PinDir: t.TempDir(), Pages: 1})
			le := suite.AsLoadError(err)
			if tc.broken {
				if le != nil || !errors.Is(err, process.ErrAdapter) || !strings.Contains(err.Error(), "does not allow") {
					t.Fatalf("Load = %v, want ErrAdapter saying the stage is not allowed", err)
				}
				return
			}
			if le == nil || le.Stage != protocol.StageUnsupported || !errors.Is(err, process.ErrUnsupported) ||
				!strings.Contains(err.Error(), "bcc cannot express it") {
				t.Fatalf("Load = %v, want an unsupported LoadError wrapping ErrUnsupported with the reason", err)
			}
		})
	}
}
