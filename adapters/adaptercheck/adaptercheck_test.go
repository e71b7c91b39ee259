package adaptercheck_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/adaptercheck"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
)

func TestMain(m *testing.M) {
	process.MaybeRunNamespaceWrapper()
	os.Exit(m.Run())
}

// needRoot skips unless Check can load BPF programs and pin here.
func needRoot(t *testing.T) {
	t.Helper()
	bpfsystest.RequireBPF(t, "adapter-check loads BPF programs")
}

var (
	controlsOnce sync.Once
	controls     map[string]string
	controlsErr  error
)

// control builds the negative-control adapters once and returns one's path.
func control(t *testing.T, name string) string {
	t.Helper()
	controlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "adaptercheck-test-")
		if err != nil {
			controlsErr = err
			return
		}
		controls, controlsErr = adapters.BuildTestdata(context.Background(), dir)
	})
	if controlsErr != nil {
		t.Fatal(controlsErr)
	}
	return controls[name]
}

// TestAdapterCheckAya builds the aya adapter (when cargo and rustc are here;
// CI has them) and checks it: info, load + ready, pin, one sample per online
// CPU attributed to that CPU, clean shutdown.
func TestAdapterCheckAya(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the aya adapter with cargo")
	}
	needRoot(t)
	a, err := adapters.Get("aya")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Available(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	path, err := a.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := adaptercheck.Check(ctx, path, adaptercheck.Options{ReadyTimeout: 30 * time.Second, SampleTimeout: 10 * time.Second, Pages: 8})
	out := r.String()
	t.Logf("adapter-check %s:\n%s", path, out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() != 0 {
		t.Errorf("%d steps failed", r.Failed())
	}
	topo, err := topology.Read("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`PASS  info      loader "aya" version "0.13.1" protocol 1`, "PASS  pin", "PASS  shutdown"}
	for _, cpu := range topo.Online.CPUs() {
		want = append(want, fmt.Sprintf("PASS  sample    CPU %d: delivered, attributed to CPU %d", cpu, cpu))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("adapter-check output lacks %q", w)
		}
	}
}

// TestCheckSharesTheRules: Check fails the same adapters `conform run` turns
// into ERRORs, with the process client's own errors (one implementation of
// each protocol rule), and adds its hint; every step before the failing one
// passes, and OnStep sees the steps in the Report's order.
func TestCheckSharesTheRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the negative-control adapters")
	}
	needRoot(t)
	for _, tc := range []struct {
		control, step string
		is            error
		hint          string
	}{
		{"badready", "ready", process.ErrReady, "list every perf event array"},
		{"exit3", "shutdown", process.ErrShutdown, "exit 0 promptly"},
		{"garbage", "load", process.ErrAdapter, "must print {\"event\":\"ready\""},
		{"badversion", "info", process.ErrProtocolVersion, "exactly one JSON line"},
		{"sizeone", "sample", unix.E2BIG, "size it to the highest possible CPU id + 1"},
		{"crash", "running", process.ErrAdapter, "never exit on your own"},
		{"earlyexit", "running", process.ErrAdapter, "never exit on your own"},
		// A line that breaks the protocol right after ready: the client
		// stops the adapter, and its rings go with it. The one failure is
		// that line, not the rings (ENOENT on every CPU) nor a shutdown.
		{"badbase64", "stream", process.ErrLine, "one JSON object per line"},
		// A sample without "cpu" is not CPU 0.
		{"nocpu", "stream", process.ErrLine, `"cpu" always present`},
		// "environment" after pinning is judged as a failure at load.
		{"envafterpin", "load", suite.ErrEnvironmentAfterPin, `"environment" only for refusals before`},
	} {
		t.Run(tc.control, func(t *testing.T) {
			var seen []adaptercheck.Step
			r, err := adaptercheck.Check(context.Background(), control(t, tc.control), adaptercheck.Options{
				ReadyTimeout: 10 * time.Second, SampleTimeout: 5 * time.Second,
				OnStep: func(s adaptercheck.Step) { seen = append(seen, s) },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", r)
			if r.Failed() != 1 {
				t.Errorf("%d failed steps, want 1", r.Failed())
			}
			if fmt.Sprint(seen) != fmt.Sprint(r.Steps) {
				t.Errorf("OnStep saw %v, the report has %v", seen, r.Steps)
			}
			for _, s := range r.Steps {
				if s.Status != adaptercheck.Fail {
					continue
				}
				if s.Name != tc.step || !errors.Is(s.Err, tc.is) || !strings.Contains(s.Fix, tc.hint) {
					t.Errorf("failed step %s (%v, fix %q), want %s failing with %v and the hint %q", s.Name, s.Err, s.Fix, tc.step, tc.is, tc.hint)
				}
				if s.Name == "stream" && strings.Contains(s.Fix, "never exit on your own") {
					t.Errorf("the client stopped the adapter, yet the hint says it exited on its own: %q", s.Fix)
				}
				if !strings.Contains(s.String(), "\n                fix: "+s.Fix) {
					t.Errorf("step prints as %q, want the hint on its own line", s)
				}
			}
		})
	}
}

// TestCheckRefusesWhatIsNotAnAdapter: a missing or non-executable path is an
// error before anything runs, naming the path.
func TestCheckRefusesWhatIsNotAnAdapter(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "adapter")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/nonexistent/adapter", notExec, t.TempDir()} {
		r, err := adaptercheck.Check(context.Background(), path, adaptercheck.Options{})
		if err == nil || !strings.Contains(err.Error(), path) || len(r.Steps) != 0 {
			t.Errorf("Check(%s) = %v, %v; want an error naming it and no steps", path, r.Steps, err)
		}
	}
}

// TestStepString is the line format `conform adapter-check` prints.
func TestStepString(t *testing.T) {
	for _, tc := range []struct {
		step adaptercheck.Step
		want string
	}{
		{adaptercheck.Step{Name: "info", Status: adaptercheck.Pass, Message: `loader "x"`}, `PASS  info      loader "x"`},
		{adaptercheck.Step{Name: "info", Status: adaptercheck.Note, Message: "no pinning"}, "NOTE  info      no pinning"},
		{adaptercheck.Step{Name: "shutdown", Status: adaptercheck.Fail, Message: "exited 3", Fix: "exit 0"}, "FAIL  shutdown  exited 3\n                fix: exit 0"},
		{adaptercheck.Step{Name: "sample", Status: adaptercheck.Fail, Message: "EIO"}, "FAIL  sample    EIO"},
	} {
		if got := tc.step.String(); got != tc.want {
			t.Errorf("%+v prints as %q, want %q", tc.step, got, tc.want)
		}
	}
}
