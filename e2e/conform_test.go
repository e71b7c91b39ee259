// Package e2e runs the built conform binary the way users do. On this host
// (cli_test.go; root and a bpffs): arguments refused up front, output
// directories never mixed, adapters that misbehave or are killed with
// conform. In QEMU VMs (this file): `conform run`, checking results.json,
// the per-VM logs, and that no QEMU or adapter process outlives the run.
// Skipped with -short; the VM tests also without QEMU or the debian-6.1
// kernel in the cache (`conform kernels fetch debian-6.1`).
// memlock_test.go boots the reference loader itself as PID 1 of a 5.10 guest
// (needs debian-5.10 fetched).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

const testKernel = "debian-6.1"

// vmLimit bounds one conform run that boots a VM.
const vmLimit = 15 * time.Minute

var (
	buildOnce  sync.Once
	conformBin string
	buildErr   error
	buildDir   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{buildDir, controlDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// needVMs skips unless VMs can run here.
func needVMs(t *testing.T) {
	t.Helper()
	vmtesting.RequireVMs(t, testKernel)
	if os.Geteuid() != 0 {
		t.Skip("VM test: conform run builds and boots as root here; run as root")
	}
}

// conform returns a static conform binary (built once per test binary).
func conform(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "perfconform-e2e-bin-")
		if buildErr == nil {
			conformBin, buildErr = vmtest.BuildGuest(context.Background(), buildDir, vmtest.ConformPackage)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return conformBin
}

// run is one conform invocation and what was seen of it.
type run struct {
	stdout, stderr string
	exit           int
	took           time.Duration
	// sawQEMU: a QEMU process of this run was found while it ran, so the
	// leak check after it is known to see them.
	sawQEMU bool
}

// runConform runs conform with TMPDIR set to a directory of this test, so
// every QEMU it starts has that directory on its command line (-initrd) and
// can be told apart from other people's VMs. A run of more than limit fails
// the test. interrupt, if set, is called with the stderr so far and returns
// true to send SIGINT.
func runConform(t *testing.T, tmp string, limit time.Duration, interrupt func(stderr string) bool, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, conform(t), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = 10 * time.Second
	t.Logf("conform %s", strings.Join(args, " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var r run
	interrupted := false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case err := <-waitErr:
			done = true
			var ee *exec.ExitError
			switch {
			case err == nil:
			case errors.As(err, &ee):
				r.exit = ee.ExitCode()
			default:
				t.Fatalf("conform: %v", err)
			}
		case <-tick.C:
			if len(ourProcesses(t, tmp)) > 0 {
				r.sawQEMU = true
			}
			if interrupt != nil && !interrupted && interrupt(stderr.String()) {
				interrupted = true
				t.Logf("sending SIGINT after %v", time.Since(start).Round(time.Millisecond))
				_ = cmd.Process.Signal(syscall.SIGINT)
			}
		}
	}
	r.stdout, r.stderr, r.took = stdout.String(), stderr.String(), time.Since(start)
	t.Logf("conform exited %d after %v\nstdout:\n%s\nstderr:\n%s", r.exit, r.took.Round(time.Millisecond), r.stdout, r.stderr)
	for _, p := range ourProcesses(t, tmp) {
		t.Errorf("process survived conform run: %s", p)
	}
	if ctx.Err() != nil {
		t.Fatalf("conform %q did not end within %v; stderr:\n%s", args, limit, r.stderr)
	}
	return r
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ourProcesses lists live processes (zombies included) of this test's runs:
// a qemu-system whose command line mentions dir, or anything executing a
// file under dir (adapters built there).
func ourProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		isQEMU := strings.HasPrefix(strings.TrimSpace(string(comm)), "qemu-system")
		mentions := strings.Contains(string(cmdline), dir)
		if (isQEMU && mentions) || strings.HasPrefix(exe, dir+"/") || (len(args) > 0 && strings.HasPrefix(args[0], dir+"/")) {
			found = append(found, e.Name()+" "+strings.Join(args, " "))
		}
	}
	return found
}

func readResults(t *testing.T, out string) *report.Results {
	t.Helper()
	doc, err := report.ReadFile(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// checkReferenceMUSTs fails unless every MUST has a reference PASS from the
// VM of topology top.
func checkReferenceMUSTs(t *testing.T, doc *report.Results, top string) {
	t.Helper()
	got := map[string]result.Result{}
	for _, r := range doc.Results {
		if r.Loader == "reference" && r.Topology == top && r.Kernel == testKernel {
			got[r.Requirement] = r
		}
	}
	for _, req := range suite.Requirements {
		if req.Level != result.Must {
			continue
		}
		r, ok := got[req.ID]
		switch {
		case !ok:
			t.Errorf("reference %s on %s/%s: no result", req.ID, testKernel, top)
		case r.Status != result.Pass:
			t.Errorf("reference %s on %s/%s: %s: %s", req.ID, testKernel, top, r.Status, r.Detail)
		case r.Accelerator == "" || r.Masks == nil:
			t.Errorf("reference %s: result without accelerator or masks: %+v", req.ID, r)
		}
	}
}

func TestReferencePassesInVM(t *testing.T) {
	needVMs(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	r := runConform(t, tmp, vmLimit, nil, "run", "--topology", "1cpu", "--kernel", testKernel, "-j", "1", "--out", out)
	if r.exit != 0 {
		t.Fatalf("conform run exited %d, want 0", r.exit)
	}
	if !r.sawQEMU {
		t.Error("never saw this run's QEMU process: the leak check cannot see them")
	}
	doc := readResults(t, out)
	if len(doc.Runs) != 1 || !doc.Runs[0].Realized || doc.Runs[0].Error != "" || doc.Runs[0].Kernel.Version == "" {
		t.Fatalf("runs = %+v, want one realized run without error", doc.Runs)
	}
	if len(doc.Results) != len(suite.Requirements) {
		t.Errorf("%d results, want %d (one per requirement)", len(doc.Results), len(suite.Requirements))
	}
	checkReferenceMUSTs(t, doc, "1cpu")
	for _, f := range []string{"console.log", "events.jsonl", "vm.json"} {
		if _, err := os.Stat(filepath.Join(out, testKernel+"_1cpu", f)); err != nil {
			t.Errorf("VM log: %v", err)
		}
	}
	if n := strings.Count(r.stdout, "reference@"+testKernel+"/1cpu"); n != len(suite.Requirements) {
		t.Errorf("stdout has %d result lines, want %d:\n%s", n, len(suite.Requirements), r.stdout)
	}
}

// TestCrashingLoaderInVM runs the reference next to the "crash" control
// (prints ready, then panics): every crash result is an ERROR carrying the
// adapter's evidence, and the reference's results are untouched.
func TestCrashingLoaderInVM(t *testing.T) {
	needVMs(t) // skip early: the controls need not be built when VMs cannot run
	tmp := t.TempDir()
	controls, err := adapters.BuildTestdata(context.Background(), filepath.Join(tmp, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	r := runConform(t, tmp, vmLimit, nil, "run", "--topology", "sparse", "--kernel", testKernel, "-j", "1", "--out", out,
		"--loader", "reference", "--loader", controls["crash"], "--gate", "reference")
	if r.exit != 0 {
		t.Errorf("conform run exited %d, want 0 (--gate reference: only the reference gates)", r.exit)
	}
	doc := readResults(t, out)
	if len(doc.Runs) != 1 || !doc.Runs[0].Realized || doc.Runs[0].Error != "" {
		t.Fatalf("runs = %+v, want one realized run without error (a crashing adapter is not a dead VM)", doc.Runs)
	}
	checkReferenceMUSTs(t, doc, "sparse")
	crash := 0
	for _, res := range doc.Results {
		if res.Loader != "crash" {
			continue
		}
		crash++
		switch {
		case res.Status == result.Error && res.Detail != "" && res.Masks != nil:
		case res.Status == result.Skip && strings.Contains(res.Detail, "declares no"):
			// capability-gated (legacy-maps): never loaded, nothing to crash
		default:
			t.Errorf("crash %s: %s %q, want ERROR with evidence", res.Requirement, res.Status, res.Detail)
		}
	}
	if crash != len(suite.Requirements) {
		t.Errorf("%d crash results, want %d", crash, len(suite.Requirements))
	}
	if !strings.Contains(r.stdout, "crash@"+testKernel+"/sparse") {
		t.Errorf("no crash result lines on stdout:\n%s", r.stdout)
	}
}

// TestInterruptWritesResults sends SIGINT while the VM is booting: QEMU dies
// with the run, results.json is still written (the run error is the signal,
// the cause conform's context carries), and the requirements the VM
// never reported are ERROR results that gate.
func TestInterruptWritesResults(t *testing.T) {
	needVMs(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	r := runConform(t, tmp, vmLimit, func(stderr string) bool { return strings.Contains(stderr, "booting") },
		"run", "--topology", "sparse", "--kernel", testKernel, "-j", "1", "--out", out)
	if r.exit != 1 {
		t.Errorf("conform run exited %d, want 1 (gated on the ERROR results)", r.exit)
	}
	if !r.sawQEMU {
		t.Error("never saw this run's QEMU process before the interrupt")
	}
	doc := readResults(t, out)
	if len(doc.Runs) != 1 || !strings.Contains(doc.Runs[0].Error, "interrupt") {
		t.Fatalf("runs = %+v, want one run whose error is the cancellation", doc.Runs)
	}
	errs := 0
	for _, res := range doc.Results {
		if res.Loader == "reference" && res.Status == result.Error && strings.Contains(res.Detail, "did not complete") {
			errs++
		}
	}
	if errs == 0 || len(doc.Results) != len(suite.Requirements) {
		t.Errorf("%d ERROR results of %d, want one result per requirement with the unreported ones ERROR: %+v", errs, len(doc.Results), doc.Results)
	}
}
