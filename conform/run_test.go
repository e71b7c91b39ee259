package conform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

// TestMain lets this test binary be the adapters' session wrapper (the
// process client re-executes it), as every main using process must.
func TestMain(m *testing.M) {
	process.MaybeRunNamespaceWrapper()
	os.Exit(m.Run())
}

func TestParseLoader(t *testing.T) {
	for _, tt := range []struct {
		given string
		kind  loaderKind
	}{
		{"reference", kindBuiltin},
		{"libbpf@1.4", kindBuiltin},
		{"cilium-ebpf", kindBuiltin},
		{"./perfconform-adapter", kindPath},
		{"/usr/local/bin/adapter", kindPath},
		{"target/release/perfconform-adapter", kindPath},
	} {
		l := ParseLoader(tt.given)
		if l.kind != tt.kind || l.String() != tt.given {
			t.Errorf("ParseLoader(%q) = kind %d %q, want kind %d named as given", tt.given, l.kind, l, tt.kind)
		}
	}
	if s := InProcess(refadapter.New()).String(); !strings.HasPrefix(s, "in-process ") {
		t.Errorf("InProcess names itself %q", s)
	}
	if s := GoAdapter("./cmd/adapter").String(); s != "./cmd/adapter" {
		t.Errorf("GoAdapter names itself %q", s)
	}
}

// TestValidate: every argument check that needs no work refuses its plan,
// and Run does nothing for a refused plan (no --out directory left behind).
func TestValidate(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "file")
	outFull := t.TempDir()
	for _, f := range []string{outFile, filepath.Join(outFull, "notes.txt")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := func(p Plan) Plan { p.Host = true; return p }
	machine, err := topology.Read("")
	if err != nil {
		t.Fatal(err)
	}
	vm := func(p Plan) Plan { p.Kernels = []string{"debian-6.1"}; return p }
	for _, tt := range []struct {
		name string
		plan Plan
		want string // "" = valid
		is   error
	}{
		{"host", host(Plan{}), "", nil},
		{"vm with the default topologies", vm(Plan{}), "", nil},
		{"in-process on the host", host(Plan{Loaders: []Loader{InProcess(refadapter.New())}}), "", nil},
		{"nowhere", Plan{}, "say where to run", nil},
		{"host and kernels", host(vm(Plan{})), "does not combine", nil},
		{"topology without kernel", Plan{Topologies: []string{"1cpu"}}, "--topology needs --kernel", nil},
		{"unknown topology", vm(Plan{Topologies: []string{"nosuch"}}), "unknown topology", nil},
		{"unknown kernel", Plan{Kernels: []string{"nosuch"}}, "nosuch", nil},
		{"negative -j", vm(Plan{Parallel: -1}), "-j -1", nil},
		{"1ns timeout", host(Plan{Timeout: time.Nanosecond}), "--timeout", nil},
		{"100000h timeout", vm(Plan{Timeout: 100000 * time.Hour}), "--timeout: 100000h0m0s is longer than", nil},
		{"unknown requirement", host(Plan{Requirements: []string{"NOPE"}}), "unknown requirement", nil},
		{"bad level", host(Plan{Gate: Gate{Level: "MAY"}}), "fail level", report.ErrGateOptions},
		{"lower-case level", host(Plan{Gate: Gate{Level: "must"}}), "", nil},
		{"mixed-case level", host(Plan{Gate: Gate{Level: "Should"}}), "", nil},
		// A valid level in any case is one check among the others, not
		// the end of the checks.
		{"lower-case level, unknown requirement", host(Plan{Gate: Gate{Level: "must"}, Requirements: []string{"NOPE"}}), "unknown requirement", nil},
		{"lower-case level, nowhere to run", Plan{Gate: Gate{Level: "should"}}, "say where to run", nil},
		{"lower-case level, in-process in VMs", vm(Plan{Gate: Gate{Level: "must"}, Loaders: []Loader{InProcess(refadapter.New())}}), "host only", ErrLoader},
		{"in-process in VMs", vm(Plan{Loaders: []Loader{InProcess(refadapter.New())}}), "host only", ErrLoader},
		{"in-process nil", host(Plan{Loaders: []Loader{InProcess(nil)}}), "InProcess(nil)", ErrLoader},
		{"empty name", host(Plan{Loaders: []Loader{Builtin("")}}), "without a name", ErrLoader},
		{"unknown built-in", host(Plan{Loaders: []Loader{Builtin("gobpf")}}), `--loader gobpf: unknown adapter "gobpf" (built-ins: `, adapters.ErrUnknownAdapter},
		{"unknown built-in version", vm(Plan{Loaders: []Loader{Builtin("libbpf@9.9")}}), "--loader libbpf@9.9", ErrLoader},
		// an empty flag value (--topology "", --gate "", --requirement a,)
		// names nothing; it must not silently mean the default
		{"empty --topology", vm(Plan{Topologies: []string{}}), "--topology: an empty value", ErrEmptyValue},
		{"blank topology", vm(Plan{Topologies: []string{"1cpu", " "}}), "--topology: an empty value", ErrEmptyValue},
		{"empty --kernel", Plan{Kernels: []string{""}}, "--kernel: an empty value", ErrEmptyValue},
		{"empty --requirement", host(Plan{Requirements: []string{}}), "--requirement: an empty value", ErrEmptyValue},
		{"empty --gate", host(Plan{Gate: Gate{Loaders: []string{}}}), "--gate: an empty value", ErrEmptyValue},
		{"blank --gate", host(Plan{Gate: Gate{Loaders: []string{"reference", ""}}}), "--gate: an empty value", ErrEmptyValue},
		// --out is checked without creating anything
		{"--out a file", host(Plan{OutDir: outFile}), "--out " + outFile, nil},
		{"--out not empty", host(Plan{OutDir: outFull}), "is not empty", nil},
		{"--out under a file", host(Plan{OutDir: filepath.Join(outFile, "x")}), "--out " + filepath.Join(outFile, "x"), nil},
		{"--force, foreign file", host(Plan{OutDir: outFull, Force: true}), "is not output of conform run", nil},
		{"--out empty", host(Plan{OutDir: t.TempDir()}), "", nil},
		{"--out new", host(Plan{OutDir: filepath.Join(t.TempDir(), "a", "b")}), "", nil},
		{"loader CPUs in VMs", vm(Plan{LoaderCPUs: "0"}), "host runs only", nil},
		{"loader CPUs not a list", host(Plan{LoaderCPUs: "zero"}), "--loader-cpus", topology.ErrBadCPUList},
		{"loader CPUs not online", host(Plan{LoaderCPUs: "0,4095"}), "not online", nil},
		{"loader CPUs every online CPU", host(Plan{LoaderCPUs: machine.Online.String()}), "restricts nothing", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Validate = %v, want an error containing %q (is %v)", err, tt.want, tt.is)
			}
			p := tt.plan
			if p.OutDir == "" {
				p.OutDir = filepath.Join(t.TempDir(), "out")
			}
			before, _ := os.ReadDir(filepath.Dir(p.OutDir))
			var events []Event
			if _, err := Run(context.Background(), p, WithEvents(func(e Event) { events = append(events, e) })); err == nil || err.Error() != tt.plan.Validate().Error() {
				t.Errorf("Run = %v, want Validate's error", err)
			}
			if after, _ := os.ReadDir(filepath.Dir(p.OutDir)); len(after) != len(before) || len(events) > 0 {
				t.Errorf("a refused Run changed %s (%d entries, then %d) or reported %d events", filepath.Dir(p.OutDir), len(before), len(after), len(events))
			}
		})
	}
}

// infoLoader is an in-process loader that only declares itself.
type infoLoader struct {
	info protocol.Info
	err  error
}

func (l *infoLoader) Info(context.Context) (protocol.Info, error) { return l.info, l.err }
func (l *infoLoader) Load(context.Context, suite.LoadRequest) (suite.Session, error) {
	return nil, errors.New("not a loader")
}

// TestResolveInProcess: an in-process loader is named by its Info, runs as
// itself on the host, and is refused when its info fails or its name is
// taken.
func TestResolveInProcess(t *testing.T) {
	mine := &infoLoader{info: protocol.Info{Loader: "mine", Version: "0.1", Protocol: 1}}
	specs, err := resolveLoaderSpecs(context.Background(), []Loader{Builtin("reference"), InProcess(mine)}, t.TempDir(), time.Second, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if got := specNames(specs); !slices.Equal(got, []string{"reference", "mine"}) {
		t.Errorf("names %q, want reference and mine (its Info)", got)
	}
	hl := hostLoaders(specs, 0, "")
	if hl[1].Name != "mine" || hl[1].Loader != suite.Loader(mine) {
		t.Errorf("host loader %+v, want the in-process loader itself", hl[1])
	}
	for _, tt := range []struct {
		loaders []Loader
		want    string
	}{
		{[]Loader{InProcess(&infoLoader{err: errors.New("no info today")})}, "no info today"},
		{[]Loader{InProcess(&infoLoader{info: protocol.Info{Version: "1"}})}, "declares no loader name"},
		{[]Loader{Builtin("reference"), InProcess(&infoLoader{info: protocol.Info{Loader: "reference"}})}, `both declare loader "reference"`},
	} {
		if _, err := resolveLoaderSpecs(context.Background(), tt.loaders, t.TempDir(), time.Second, func(string) {}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolve %v = %v, want an error containing %q", tt.loaders, err, tt.want)
		}
	}
}

// TestGoAdapter: a Go adapter package is built static for the host (and
// named by its info line), then for each guest architecture, and goes into
// the initramfs like an adapter path.
func TestGoAdapter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go adapter for two architectures")
	}
	bin := t.TempDir()
	var progress []string
	note := func(s string) { progress = append(progress, s) }
	specs, err := resolveLoaderSpecs(context.Background(), []Loader{GoAdapter("../adapters/testdata/sizeone")}, bin, 30*time.Second, note)
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if s.Name != "sizeone" || !strings.HasPrefix(s.Path, bin) || s.GoPkg == "" {
		t.Fatalf("spec %+v: want sizeone built under %s", s, bin)
	}
	if a, err := arch.OfELF(s.Path); err != nil || a.Name != runtime.GOARCH {
		t.Errorf("host build %s is %v (%v), want %s", s.Path, a.Name, err, runtime.GOARCH)
	}
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	vl, err := vmLoadersOf(context.Background(), specs, []string{runtime.GOARCH, foreign}, note)
	if err != nil {
		t.Fatal(err)
	}
	if want := []GuestLoader{{Name: "sizeone", Path: GuestLoaderDir + "/0-sizeone-static"}}; !slices.Equal(vl.guest, want) {
		t.Errorf("guest loaders %+v, want %+v", vl.guest, want)
	}
	for _, an := range []string{runtime.GOARCH, foreign} {
		f := vl.files[an]
		if len(f) != 1 || f[0].Guest != vl.guest[0].Path {
			t.Fatalf("%s files %+v, want the adapter at its guest path", an, f)
		}
		if a, err := arch.OfELF(f[0].Host); err != nil || a.Name != an {
			t.Errorf("%s guests get %s, an %s executable (%v)", an, f[0].Host, a.Name, err)
		}
	}
	if len(progress) != 2 || !strings.Contains(progress[1], "for "+foreign+" guests") {
		t.Errorf("progress %q: want the host build and the %s build", progress, foreign)
	}
	if _, err := resolveLoaderSpecs(context.Background(), []Loader{GoAdapter("./no/such/package")}, bin, time.Second, note); err == nil ||
		!strings.Contains(err.Error(), "Go adapter ./no/such/package") {
		t.Errorf("missing package: %v", err)
	}
}

func TestGateError(t *testing.T) {
	v := []report.Violation{{Loader: "a"}, {Loader: "b"}}
	for _, tt := range []struct {
		err  GateError
		want string
	}{
		{GateError{Violations: v, Level: result.Must}, "2 gating violation(s) for every loader at level MUST"},
		{GateError{Violations: v[:1], Loaders: []string{"libbpf", "aya"}, Level: result.Should}, "1 gating violation(s) for libbpf,aya at level SHOULD"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestRunOnHost runs a plan on this machine with the reference in-process
// and a Go adapter that sizes perf arrays wrong (max_entries 1): the reports
// are written, the events tell the run as it goes, and the default gate
// (every loader of the run: the reference beside a loader does not take its
// gate) names the wrong loader, with the results returned beside the
// *GateError.
func TestRunOnHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a host run loads BPF programs: needs root")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("max_entries 1 is right on a 1-CPU machine")
	}
	out := filepath.Join(t.TempDir(), "out")
	var events []Event
	p := Plan{
		Host:         true,
		Loaders:      []Loader{InProcess(refadapter.New()), GoAdapter("../adapters/testdata/sizeone")},
		Requirements: []string{"SIZE-AUTO", "SIZE-AUTO"}, // named twice, checked once
		OutDir:       out,
		BinDir:       t.TempDir(),
		Gate:         Gate{Level: "must"}, // any case, as on the command line
	}
	doc, err := Run(context.Background(), p, WithEvents(func(e Event) { events = append(events, e) }))
	var gate *GateError
	if !errors.As(err, &gate) || doc == nil {
		t.Fatalf("Run = %v, %v; want results and a *GateError", doc, err)
	}
	if len(gate.Violations) != 1 || gate.Violations[0].Loader != "sizeone" || gate.Loaders != nil || gate.Level != result.Must {
		t.Errorf("gate %+v: want one violation, for sizeone, every loader gated at MUST", gate)
	}
	status := map[string]result.Status{}
	for _, r := range doc.Results {
		status[r.Loader] = r.Status
	}
	if status["reference"] != result.Pass || status["sizeone"] != result.Fail || len(doc.Results) != 2 {
		t.Errorf("results %v, want reference PASS and sizeone FAIL", status)
	}
	// The run lists its loaders in the plan's order whatever order Ginkgo
	// ran them in (it shuffles them).
	var listed []string
	for _, l := range doc.Runs[0].Loaders {
		listed = append(listed, l.Name)
	}
	if !slices.Equal(listed, []string{"reference", "sizeone"}) {
		t.Errorf("run loaders %v, want the plan's order [reference sizeone]", listed)
	}
	for _, f := range runOutputFiles {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// The loaders run side by side: their checks' events interleave, but
	// each loader's check starts before its result, and the run is framed
	// by HostStarted and Stopped.
	var kinds []string
	started := map[string]int{}
	for i, e := range events {
		kind := fmt.Sprintf("%T", e)
		switch e := e.(type) {
		case CheckStarted:
			started[e.Loader] = i
			kind = "check"
		case ResultReady:
			if at, ok := started[e.Result.Loader]; !ok || at > i {
				t.Errorf("result of %s before its check started: %q", e.Result.Loader, kinds)
			}
			kind = "check"
		}
		if len(kinds) == 0 || kinds[len(kinds)-1] != kind {
			kinds = append(kinds, kind)
		}
	}
	want := []string{"conform.Message", "conform.HostStarted", "check", "conform.Stopped", "conform.Message"}
	if !slices.Equal(kinds, want) || len(started) != 2 {
		t.Errorf("events %q (checks of %v), want %q for both loaders", kinds, started, want)
	}
	if hs, ok := events[1].(HostStarted); !ok || hs.Checks != 2 {
		t.Errorf("event %#v, want HostStarted{Checks: 2}", events[1])
	}
	if m, ok := events[len(events)-1].(Message); !ok || m.Text != "results written to "+out {
		t.Errorf("last event %#v, want where the results went", events[len(events)-1])
	}
}

// TestRunInVMs runs a plan in one VM from a program that is not the conform
// command (this test binary): Run builds the guest, the Go adapter goes into
// the initramfs built for the guest, and both loaders' results come from the
// VM.
func TestRunInVMs(t *testing.T) {
	vmtesting.RequireVMs(t, "debian-6.1")
	var events []Event
	p := Plan{
		Kernels:      []string{"debian-6.1"},
		Topologies:   []string{"1cpu"},
		Loaders:      []Loader{Builtin("reference"), GoAdapter("../adapters/testdata/sizeone")},
		Requirements: []string{"SIZE-AUTO"},
		Parallel:     1,
		BinDir:       t.TempDir(),
		OutDir:       filepath.Join(t.TempDir(), "out"),
	}
	doc, err := Run(context.Background(), p, WithEvents(func(e Event) { t.Logf("%T %+v", e, e); events = append(events, e) }))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := map[string]string{}
	for _, r := range doc.Results {
		got[r.Loader] = fmt.Sprintf("%s %s/%s", r.Status, r.Kernel, r.Topology)
	}
	// max_entries 1 is right with one possible CPU.
	want := map[string]string{"reference": "PASS debian-6.1/1cpu", "sizeone": "PASS debian-6.1/1cpu"}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(doc.Runs) != 1 || !doc.Runs[0].Realized {
		t.Errorf("results %v, runs %+v: want %v from one realized VM", got, doc.Runs, want)
	}
	var built, started, finished bool
	for _, e := range events {
		switch e := e.(type) {
		case Message:
			built = built || strings.Contains(e.Text, "is not the conform command; building a static guest")
		case VMsStarted:
			started = e.VMs == 1
		case VMsFinished:
			finished = len(e.Runs) == 1 && len(e.VMs) == 1
		}
	}
	if !built || !started || !finished {
		t.Errorf("events: guest built %v, VMsStarted{1} %v, VMsFinished with the VM %v", built, started, finished)
	}
}

// secondRunEnv makes TestSecondHostRun's child process make the two runs.
const secondRunEnv = "PERFCONFORM_TEST_SECOND_HOST_RUN"

// TestSecondHostRun: the suite runs on Ginkgo, once per process. A second
// host run in one process must be an error (suite.ErrSecondRun) returned
// before any work: no output directory, nothing left in the temporary
// directory, and the process goes on (Ginkgo itself would exit it). The two
// runs happen in a child copy of this test binary, so that this binary's
// own host run (TestRunOnHost) is not the first.
func TestSecondHostRun(t *testing.T) {
	if os.Getenv(secondRunEnv) != "" {
		secondHostRunChild(t)
		return
	}
	bpfsystest.RequireBPF(t, "a host run loads BPF programs")
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondHostRun$", "-test.v")
	cmd.Env = append(os.Environ(), secondRunEnv+"="+t.TempDir(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSecondHostRun") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("the runs left %v in their TMPDIR", left)
	}
	t.Logf("child:\n%s", out)
}

func secondHostRunChild(t *testing.T) {
	dir := os.Getenv(secondRunEnv)
	plan := func(out string) Plan {
		return Plan{Host: true, Loaders: []Loader{InProcess(refadapter.New())}, Requirements: []string{"SIZE-AUTO"},
			OutDir: filepath.Join(dir, out)}
	}
	if doc, err := Run(context.Background(), plan("first")); err != nil || len(doc.Results) != 1 || doc.Results[0].Status != result.Pass {
		t.Fatalf("first run: %v, %v; want one PASS", doc, err)
	}
	var events []Event
	_, err := Run(context.Background(), plan("second"), WithEvents(func(e Event) { events = append(events, e) }))
	if !errors.Is(err, suite.ErrSecondRun) {
		t.Fatalf("second run: %v, want suite.ErrSecondRun", err)
	}
	t.Logf("second run: %v", err)
	if _, serr := os.Stat(filepath.Join(dir, "second")); !os.IsNotExist(serr) || len(events) > 0 {
		t.Errorf("the refused run made its --out (%v) or reported %d events", serr, len(events))
	}
}

// TestScriptAdapterInVMs: a VM has no interpreter for an adapter script, so
// a script is refused for VM runs before anything runs, naming its
// interpreter; the host runs it.
func TestScriptAdapterInVMs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ shebang, interpreter string }{
		{"#!/bin/sh\n", "/bin/sh"},
		{"#!/usr/bin/env python3\n", "/usr/bin/env python3"},
		{"#! /bin/bash -e\n", "/bin/bash -e"},
	} {
		path := filepath.Join(dir, fmt.Sprintf("adapter-%d", len(tc.interpreter)))
		if err := os.WriteFile(path, []byte(tc.shebang+"echo\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		loaders := []Loader{AdapterPath(path)}
		err := Plan{Kernels: []string{"debian-6.1"}, Loaders: loaders}.Validate()
		if !errors.Is(err, ErrLoader) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "interpreter "+tc.interpreter) {
			t.Errorf("a %q script in VMs: Validate = %v, want ErrLoader naming the script and its interpreter", tc.shebang, err)
		}
		if err := (Plan{Host: true, Loaders: loaders}).Validate(); err != nil {
			t.Errorf("a %q script on the host: Validate = %v, want nil", tc.shebang, err)
		}
	}
}

// TestBaselineForAbsentLoader: a --baseline for a loader this run does not
// have would be silently unused (its deviations never match); like a --gate
// naming no loader of the run it is refused before anything runs (the
// context is cancelled: a run that starts ends in its error instead). A
// bare name covers every version.
func TestBaselineForAbsentLoader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		loader string
		want   string // "" = accepted: the run starts and is cancelled
	}{
		{"aya", `--baseline for loader "aya": no loader of this run is called "aya" (loaders: reference)`},
		{"reference@9.9", `no loader of this run is called "reference@9.9"`},
		{"reference", context.Canceled.Error()},
	} {
		out := filepath.Join(t.TempDir(), "out")
		p := Plan{Kernels: []string{"debian-6.1"}, Topologies: []string{"1cpu"}, Loaders: []Loader{Builtin("reference")}, OutDir: out,
			Gate: Gate{Baselines: map[string]report.Baseline{tc.loader: {Schema: report.BaselineSchema, Loader: tc.loader}}}}
		_, err := Run(ctx, p, WithGuestBinary(os.Args[0]))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("baseline for %s: Run = %v, want an error containing %q", tc.loader, err, tc.want)
		}
	}
}
