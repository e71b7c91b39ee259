package serve_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/adapters/serve"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// This test binary is also the adapter under test: started through a
// symlink named adapterPrefix+NAME, it runs serve.Main(adapterLoaders[NAME]).
// So every case goes through the real protocol client (adapters/process),
// with no build step.
const adapterPrefix = "serve-adapter-"

var adapterLoaders = map[string]func() suite.Loader{
	// The reference loader, as adapters/reference serves it.
	"reference": func() suite.Loader { return refadapter.New() },
	// A wrong loader behind serve: the reference told the machine has one
	// possible CPU, so its perf arrays get max_entries 1.
	"sizeone": func() suite.Loader {
		return &renamed{Loader: &refadapter.Loader{Options: []reference.Option{reference.WithPossibleCPUs(1)}}, name: "sizeone"}
	},
	"good":   func() suite.Loader { return &fake{maps: []string{"events"}} },
	"nomaps": func() suite.Loader { return &fake{} },
	"refuse": func() suite.Loader {
		return &fake{loadErr: &suite.LoadError{Stage: protocol.StageLoad, Err: errors.New("map events: invalid argument")}}
	},
	// A refusal without a stage: in-process the suite judges it as a load
	// failure (FAIL); through serve it must be the same, not an adapter error.
	"nostage": func() suite.Loader {
		return &fake{loadErr: &suite.LoadError{Err: errors.New("map events: invalid argument")}}
	},
	"envrefuse": func() suite.Loader {
		return &fake{loadErr: &suite.LoadError{Stage: protocol.StageEnvironment, Err: errors.New("cannot raise memlock")}}
	},
	"broken":    func() suite.Loader { return &fake{loadErr: errors.New("loader panicked halfway")} },
	"endsearly": func() suite.Loader { return &fake{maps: []string{"events"}, endEarly: true} },
	"readerfail": func() suite.Loader {
		return &fake{maps: []string{"events"}, readerErr: "ring of CPU 1: no such device"}
	},
	"closefail": func() suite.Loader { return &fake{maps: []string{"events"}, closeErr: errors.New("release failed")} },
	"closeref": func() suite.Loader {
		return &fake{maps: []string{"events"}, closeErr: &suite.LoadError{Stage: protocol.StageReader, Err: errors.New("reader broke")}}
	},
	"ghostmap": func() suite.Loader { return &fake{maps: []string{"ghost"}} },
	"badinfo":  func() suite.Loader { return &fake{infoErr: errors.New("no version")} },
}

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		// Root: adapters run under the session wrapper (this binary),
		// as in conform, so substituted possible-CPU files work. First:
		// the wrapper is started with the adapter's name as argv[0] too.
		process.MaybeRunNamespaceWrapper()
	}
	if name, ok := strings.CutPrefix(filepath.Base(os.Args[0]), adapterPrefix); ok {
		serve.Main(adapterLoaders[name]())
	}
	os.Exit(m.Run())
}

// adapter returns a process loader for adapterLoaders[name].
func adapter(t testing.TB, name string, opts ...process.Option) suite.Loader {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), adapterPrefix+name)
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	return process.New(link, opts...)
}

func object(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../testdata/perf_simple.o")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fake is a suite.Loader that needs no kernel: its sessions emit one sample
// and then behave as configured.
type fake struct {
	infoErr   error
	loadErr   error
	maps      []string // nil: no Maps method (serve lists the object's)
	endEarly  bool
	readerErr string
	closeErr  error
}

var fakeInfo = protocol.Info{Loader: "fake", Version: "0.1", Protocol: protocol.Version, Capabilities: []protocol.Capability{protocol.CapPinning}}

func (f *fake) Info(context.Context) (protocol.Info, error) { return fakeInfo, f.infoErr }

func (f *fake) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	if f.loadErr != nil {
		return nil, f.loadErr
	}
	s := &fakeSession{events: make(chan protocol.Event, 4), closeErr: f.closeErr}
	s.events <- protocol.Event{Event: protocol.EventSample, Map: "events", CPU: 0, Data: []byte("pctr")}
	switch {
	case f.endEarly:
		close(s.events)
		s.closed = true
	case f.readerErr != "":
		s.events <- protocol.Event{Event: protocol.EventError, Stage: protocol.StageReader, Map: "events", Message: f.readerErr}
	}
	if f.maps != nil {
		return &listingSession{s, f.maps}, nil
	}
	return s, nil
}

type fakeSession struct {
	events   chan protocol.Event
	closed   bool
	closeErr error
}

func (s *fakeSession) Events() <-chan protocol.Event { return s.events }

func (s *fakeSession) Close() error {
	if !s.closed {
		s.closed = true
		close(s.events)
	}
	return s.closeErr
}

type listingSession struct {
	*fakeSession
	maps []string
}

func (s *listingSession) Maps() []string { return s.maps }

// renamed gives a loader another name in its info line.
type renamed struct {
	suite.Loader
	name string
}

func (r *renamed) Info(ctx context.Context) (protocol.Info, error) {
	info, err := r.Loader.Info(ctx)
	info.Loader = r.name
	return info, err
}

// TestProtocol drives each fake loader through serve and the suite's
// protocol client and checks what the suite ends up seeing: a refusal stays a
// *suite.LoadError with its stage; everything else that goes wrong is an
// adapter error (process.ErrAdapter), never the loader's verdict.
func TestProtocol(t *testing.T) {
	const quick = 5 * time.Second
	for _, tc := range []struct {
		name string
		// wantLoad: "" (ready), "refusal STAGE", or "adapter".
		wantLoad string
		// wantMaps: the ready line's maps.
		wantMaps []string
		// wantClose: "" (clean), "refusal STAGE", "adapter" or "shutdown".
		wantClose string
		// wantText is in the error.
		wantText string
	}{
		{name: "good", wantMaps: []string{"events"}},
		{name: "nomaps", wantMaps: []string{"events"}},
		{name: "refuse", wantLoad: "refusal load", wantText: "map events: invalid argument"},
		{name: "envrefuse", wantLoad: "refusal environment", wantText: "cannot raise memlock"},
		{name: "nostage", wantLoad: "refusal load", wantText: "map events: invalid argument"},
		{name: "broken", wantLoad: "adapter", wantText: "loader panicked halfway"},
		{name: "ghostmap", wantLoad: "adapter", wantText: "ghost"},
		{name: "endsearly", wantMaps: []string{"events"}, wantClose: "adapter", wantText: "ended before it was asked to stop"},
		{name: "readerfail", wantMaps: []string{"events"}, wantClose: "refusal reader", wantText: "ring of CPU 1: no such device"},
		{name: "closefail", wantMaps: []string{"events"}, wantClose: "shutdown", wantText: "release failed"},
		{name: "closeref", wantMaps: []string{"events"}, wantClose: "refusal reader", wantText: "reader broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := adapter(t, tc.name, process.WithReadyTimeout(quick), process.WithShutdownTimeout(quick))
			info, err := l.Info(context.Background())
			if err != nil || info.Loader != fakeInfo.Loader || info.Version != fakeInfo.Version || !info.Has(protocol.CapPinning) {
				t.Fatalf("Info = %+v, %v; want %+v", info, err, fakeInfo)
			}
			pinDir := t.TempDir() // fakes pin nothing
			sess, err := l.Load(context.Background(), suite.LoadRequest{Object: object(t), PinDir: pinDir, Pages: 1})
			if tc.wantLoad != "" {
				if sess != nil {
					sess.Close()
				}
				checkErr(t, "Load", err, tc.wantLoad, tc.wantText)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := sess.(interface{ Maps() []string }).Maps(); !slices.Equal(got, tc.wantMaps) {
				t.Errorf("ready maps = %q, want %q", got, tc.wantMaps)
			}
			select {
			case ev := <-sess.Events():
				if ev.Event != protocol.EventSample || ev.Map != "events" || string(ev.Data) != "pctr" {
					t.Errorf("first event = %+v, want the fake's sample", ev)
				}
			case <-time.After(quick):
				t.Error("the fake's sample did not arrive")
			}
			if tc.wantClose == "adapter" {
				// The session ended on its own: the suite asks Ended
				// before it judges.
				deadline := time.Now().Add(quick)
				for sess.(interface{ Ended() error }).Ended() == nil && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				checkErr(t, "Ended", sess.(interface{ Ended() error }).Ended(), "adapter", tc.wantText)
			}
			err = sess.Close()
			if tc.wantClose == "" {
				if err != nil {
					t.Errorf("Close: %v, want a clean stop", err)
				}
				return
			}
			checkErr(t, "Close", err, tc.wantClose, tc.wantText)
		})
	}
}

func checkErr(t *testing.T, op string, err error, want, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", op, want)
	}
	le := suite.AsLoadError(err)
	switch stage, refusal := strings.CutPrefix(want, "refusal "); {
	case refusal:
		if le == nil || string(le.Stage) != stage {
			t.Errorf("%s: %v, want a *suite.LoadError at stage %s", op, err, stage)
		}
	case want == "adapter":
		if le != nil || !errors.Is(err, process.ErrAdapter) {
			t.Errorf("%s: %v, want an adapter error (process.ErrAdapter), not a refusal", op, err)
		}
	case want == "shutdown":
		if le != nil || !errors.Is(err, process.ErrShutdown) {
			t.Errorf("%s: %v, want process.ErrShutdown", op, err)
		}
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("%s: %v, want it to say %q", op, err, text)
	}
}

func TestInfoFailure(t *testing.T) {
	l := adapter(t, "badinfo")
	_, err := l.Info(context.Background())
	if !errors.Is(err, process.ErrAdapter) || !strings.Contains(err.Error(), "no version") {
		t.Errorf("Info: %v, want an adapter error saying why", err)
	}
}

// TestSuite runs requirements against the reference served as an adapter,
// the reference in-process, and a wrong loader served as an adapter: served
// must be judged exactly as in-process (DEGRADE-POSSIBLE included: its
// possible-CPU file reaches the served loader through the client's mount
// namespace, serve passes none), and the wrong loader must FAIL.
func TestSuite(t *testing.T) {
	bpfsystest.RequireBPF(t, "the suite loads BPF programs")
	possible, err := topology.ReadPossible("")
	if err != nil {
		t.Fatal(err)
	}
	if n := possible.Len(); n < 2 {
		t.Skipf("the wrong loader's max_entries 1 is only wrong with 2 or more possible CPUs (this machine: %d)", n)
	}
	results, err := suite.Run(context.Background(), suite.Config{Loaders: []suite.NamedLoader{
		{Name: "served", Loader: adapter(t, "reference")},
		{Name: "in-process", Loader: refadapter.New()},
		{Name: "sizeone", Loader: adapter(t, "sizeone")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]result.Result{}
	for _, r := range results {
		if got[r.Loader] == nil {
			got[r.Loader] = map[string]result.Result{}
		}
		got[r.Loader][r.Requirement] = r
	}
	for _, req := range suite.Requirements {
		served, inproc := got["served"][req.ID], got["in-process"][req.ID]
		t.Logf("%-22s served %-5s in-process %-5s sizeone %s", req.ID, served.Status, inproc.Status, got["sizeone"][req.ID].Status)
		if served.Status != inproc.Status {
			t.Errorf("%s: served %s (%s), in-process %s (%s): serve must not change a verdict",
				req.ID, served.Status, served.Detail, inproc.Status, inproc.Detail)
		}
		if req.Level == result.Must && served.Status != result.Pass && served.Status != result.Skip {
			t.Errorf("%s: the served reference is %s: %s", req.ID, served.Status, served.Detail)
		}
	}
	// The bogus possible file reached the served loader (which would
	// otherwise have sized by the real mask and passed as well).
	if r := got["served"]["DEGRADE-POSSIBLE"]; !strings.Contains(r.Detail, "not-a-cpu-list") {
		t.Errorf("served DEGRADE-POSSIBLE: %s %q: want the refusal of the substituted possible file", r.Status, r.Detail)
	} else {
		t.Logf("served DEGRADE-POSSIBLE %s: %s", r.Status, r.Detail)
	}
	if r := got["sizeone"]["SIZE-AUTO"]; r.Status != result.Fail {
		t.Errorf("sizeone SIZE-AUTO = %s (%s), want FAIL: a wrong loader behind serve must be caught", r.Status, r.Detail)
	} else {
		t.Logf("sizeone SIZE-AUTO FAIL: %s", r.Detail)
	}
	if t.Failed() {
		fmt.Fprintln(os.Stderr, results)
	}
}
