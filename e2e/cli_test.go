package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/internal/filelock"
)

// These tests run conform on this host: they need root and a bpffs.

// needHost skips unless the suite can run on this machine.
func needHost(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs conform on the host: skipped with -short")
	}
	bpfsystest.RequireBPF(t, "conform run --host loads BPF programs")
}

var (
	controlsMu sync.Mutex
	controlDir string
	controls   map[string]string
)

// control returns the path of a negative-control adapter (adapters/testdata)
// or of a built-in adapter, each built once per test binary.
func control(t *testing.T, name string) string {
	t.Helper()
	controlsMu.Lock()
	defer controlsMu.Unlock()
	ctx := context.Background()
	if controls == nil {
		dir, err := os.MkdirTemp("", "conform-cli-test-")
		if err != nil {
			t.Fatal(err)
		}
		controlDir = dir
		if controls, err = adapters.BuildTestdata(ctx, controlDir); err != nil {
			t.Fatal(err)
		}
	}
	if p, ok := controls[name]; ok {
		return p
	}
	a, err := adapters.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if controls[name], err = a.Build(ctx, controlDir); err != nil {
		t.Fatal(err)
	}
	return controls[name]
}

// copyExe copies an executable to path.
func copyExe(t *testing.T, from, to string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}

// loadersIn reads the loader names of a results.json.
func loadersIn(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct{ Loader, Status string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range doc.Results {
		n[r.Loader]++
	}
	return n
}

// TestResultsCarryTheDeclaredLoader (issue 12, items 1-3): an adapter whose
// file name is not its loader's name reports as the loader it declares,
// gates under that name, and the default gate gates what ran; two adapters
// with one file name are two loaders.
func TestResultsCarryTheDeclaredLoader(t *testing.T) {
	needHost(t)
	dir := t.TempDir()
	aya := copyExe(t, control(t, "cilium-ebpf"), filepath.Join(dir, "target/release/perfconform-adapter"))
	wrong := copyExe(t, control(t, "hardcode32"), filepath.Join(dir, "other/perfconform-adapter"))
	out := filepath.Join(dir, "out")
	r := runConform(t, dir, 3*time.Minute, nil, "run", "--host", "--loader", aya, "--loader", wrong,
		"--requirement", "SIZE-KV-DEFAULT", "--gate", "cilium-ebpf", "--out", out)
	if r.exit != 0 {
		t.Errorf("exit %d, want 0: cilium-ebpf passes SIZE-KV-DEFAULT and is the gated loader", r.exit)
	}
	// The built-in cilium-ebpf adapter declares its release; --gate
	// cilium-ebpf (a bare name) covers it.
	if got := loadersIn(t, out); got["cilium-ebpf@"+adapters.CiliumDefault] != 1 || got["hardcode32"] != 1 || len(got) != 2 {
		t.Errorf("results by loader %v, want one each for cilium-ebpf@%s and hardcode32 (their info lines)", got, adapters.CiliumDefault)
	}
	// Without --gate and without the reference: the loaders that ran gate.
	r = runConform(t, dir, 3*time.Minute, nil, "run", "--host", "--loader", aya, "--requirement", "SIZE-KV-DEFAULT")
	if r.exit != 0 || strings.Contains(r.stderr, "no results for this loader") {
		t.Errorf("default gate without the reference: exit %d, want 0", r.exit)
	}
}

// TestDefaultGateIsEveryLoader (issue 24, item 1): without --gate a run
// gates every loader it ran, so the reference brought for comparison does
// not take the gate from a wrong loader beside it; --gate reference gates
// the reference alone, as scripts/test.sh asks for it.
func TestDefaultGateIsEveryLoader(t *testing.T) {
	needHost(t)
	wrong := control(t, "hardcode32")
	for _, tc := range []struct {
		name string
		gate []string
		exit int
	}{
		{"default", nil, 1},
		{"all", []string{"--gate", "all"}, 1},
		{"the wrong loader", []string{"--gate", "hardcode32"}, 1},
		{"the reference", []string{"--gate", "reference"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--host", "--loader", "reference", "--loader", wrong, "--requirement", "SIZE-AUTO"}, tc.gate...)
			r := runConform(t, t.TempDir(), 3*time.Minute, nil, args...)
			if r.exit != tc.exit {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.exit, tc.exit, r.stderr)
			}
			if violation := "gate: host/host/hardcode32: MUST SIZE-AUTO failed"; (tc.exit == 1) != strings.Contains(r.stderr, violation) {
				t.Errorf("stderr %q: want %q exactly when the wrong loader gates", r.stderr, violation)
			}
		})
	}
}

// TestBadArgumentsRefusedUpFront (items 3, 5, 8, 12): a --gate naming no
// loader of the run, a nonsense --timeout, a non-executable --loader and an
// unknown topology are refused before anything runs, leaving no --out.
func TestBadArgumentsRefusedUpFront(t *testing.T) {
	needHost(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "adapter.txt")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "adapter.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"gate names an absent loader", []string{"run", "--host", "--gate", "foo"}, `no loader of this run is called "foo"`},
		{"negative timeout", []string{"run", "--host", "--timeout", "-5s"}, "--timeout"},
		{"1ns timeout", []string{"run", "--host", "--timeout", "1ns"}, "--timeout"},
		{"empty --topology", []string{"run", "--topology", "", "--kernel", "debian-6.1"}, "--topology: an empty value"},
		{"empty --gate", []string{"run", "--host", "--gate", ""}, "--gate: an empty value"},
		{"unknown built-in", []string{"run", "--host", "--loader", "gobpf"}, `unknown adapter "gobpf"`},
		{"script adapter in VMs", []string{"run", "--topology", "1cpu", "--kernel", "debian-6.1", "--loader", script}, "interpreter /bin/sh"},
		{"100000h timeout", []string{"run", "--topology", "1cpu", "--kernel", "debian-6.1", "--timeout", "100000h"}, "is longer than 1h0m0s"},
		{"non-executable loader", []string{"run", "--host", "--loader", plain}, "not an executable file"},
		{"unknown topology", []string{"run", "--topology", "nosuch", "--kernel", "debian-6.1"}, "unknown topology"},
		{"unknown kernel", []string{"run", "--topology", "1cpu", "--kernel", "nosuch"}, "nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			r := runConform(t, dir, time.Minute, nil, append(tc.args, "--out", out)...)
			if r.exit != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want exit 2 saying %q", r.exit, r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("refused run printed results:\n%s", r.stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("refused run left --out %s behind (%v)", out, err)
			}
		})
	}
}

// TestOutIsNeverMixed (items 7, 8): a second run into the same --out is
// refused unless --force, and an unwritable --out is refused before the run.
func TestOutIsNeverMixed(t *testing.T) {
	needHost(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := []string{"run", "--host", "--requirement", "SIZE-KV-DEFAULT", "--out", out}
	if r := runConform(t, dir, 3*time.Minute, nil, args...); r.exit != 0 {
		t.Fatalf("first run: exit %d", r.exit)
	}
	first, _ := os.ReadFile(filepath.Join(out, "results.json"))
	r := runConform(t, dir, 3*time.Minute, nil, args...)
	if r.exit != 2 || !strings.Contains(r.stderr, "not empty") {
		t.Errorf("second run into the same --out: exit %d, want 2 saying it is not empty", r.exit)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "results.json")); !bytes.Equal(first, again) {
		t.Errorf("a refused run replaced results.json")
	}
	if r := runConform(t, dir, 3*time.Minute, nil, append(args, "--force")...); r.exit != 0 {
		t.Errorf("--force run: exit %d, want 0", r.exit)
	}

	ro := t.TempDir()
	if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot mount a read-only tmpfs: %v", err)
	}
	defer unix.Unmount(ro, 0)
	r = runConform(t, dir, time.Minute, nil, "run", "--host", "--out", ro)
	if r.exit != 2 || !strings.Contains(r.stderr, "not writable") || r.stdout != "" {
		t.Errorf("unwritable --out: exit %d, stdout %q: want exit 2 before any result", r.exit, r.stdout)
	}
}

// TestOutOnAFullDisk (issue 24 item 9): an --out whose file system cannot
// take the results is refused before the run, not after it.
func TestOutOnAFullDisk(t *testing.T) {
	needHost(t)
	small := t.TempDir()
	if err := unix.Mount("tmpfs", small, "tmpfs", 0, "size=128k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(small, unix.MNT_DETACH)
	os.WriteFile(filepath.Join(small, "filler"), make([]byte, 120<<10), 0o644) // fails when full: fine
	r := runConform(t, t.TempDir(), 3*time.Minute, nil, "run", "--host", "--requirement", "SIZE-KV-DEFAULT", "--out", filepath.Join(small, "out"))
	if r.exit != 2 || !strings.Contains(r.stderr, "free") || r.stdout != "" {
		t.Errorf("--out on a full 128 KiB file system: exit %d, stdout %q, stderr %q: want exit 2 before any result, saying what is free", r.exit, r.stdout, r.stderr)
	}
}

// TestAnyAdapterFileName (item 6): adapter file names with characters
// Ginkgo refuses in labels run like any other; nothing is left pinned.
func TestAnyAdapterFileName(t *testing.T) {
	needHost(t)
	dir := t.TempDir()
	odd := copyExe(t, control(t, "cilium-ebpf"), filepath.Join(dir, "my adapter &|!,() x"))
	out := filepath.Join(dir, "out")
	r := runConform(t, dir, 3*time.Minute, nil, "run", "--host", "--loader", "reference", "--loader", odd,
		"--requirement", "SIZE-KV-DEFAULT", "--out", out)
	if r.exit != 0 {
		t.Errorf("exit %d, want 0", r.exit)
	}
	if got := loadersIn(t, out); got["reference"] != 1 || got["cilium-ebpf@"+adapters.CiliumDefault] != 1 {
		t.Errorf("results by loader %v, want reference and cilium-ebpf@%s", got, adapters.CiliumDefault)
	}
}

// TestNeverReadyFailsFast (items 5, 11): --timeout bounds the wait for
// ready, and after one readiness timeout the rest of that loader's
// requirements are ERRORs at once, with the evidence.
func TestNeverReadyFailsFast(t *testing.T) {
	needHost(t)
	r := runConform(t, t.TempDir(), 5*time.Minute, nil, "run", "--host", "--loader", control(t, "hang"), "--timeout", "2s",
		"--requirement", "SIZE-AUTO,SIZE-KV-DEFAULT,RING-KEY,RING-DELIVER")
	if r.took > 30*time.Second {
		t.Errorf("took %v: a never-ready adapter must cost one timeout, not one per requirement", r.took)
	}
	n := 0
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "ERROR ") {
			n++
		}
	}
	if n != 4 || !strings.Contains(r.stdout, "no ready line within 2s") {
		t.Errorf("want 4 ERROR lines carrying the ready timeout, got:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "hang: checking") {
		t.Errorf("no progress line on stderr:\n%s", r.stderr)
	}
}

// TestKilledRunIsCleanedUp (item 10): helpers an adapter starts in a
// session of their own die with it, even when conform is killed with
// SIGKILL, and the next run removes pin directories of dead runs but never
// one of a live process.
func TestKilledRunIsCleanedUp(t *testing.T) {
	needHost(t)
	orphan := control(t, "orphan")
	cmd := exec.Command(conform(t), "run", "--host", "--loader", orphan)
	stdout := &lockedBuffer{}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pinRoot := fmt.Sprintf("/sys/fs/bpf/perfconform/run-%d", cmd.Process.Pid)
	for deadline := time.Now().Add(time.Minute); strings.Count(stdout.String(), "\n") < 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no results within a minute:\n%s", stdout.String())
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	for deadline := time.Now().Add(3 * time.Second); len(ourProcesses(t, filepath.Dir(orphan))) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if left := ourProcesses(t, filepath.Dir(orphan)); len(left) > 0 {
		t.Errorf("adapter processes outlived the killed conform: %v", left)
	}
	if _, err := os.Stat(pinRoot); err != nil {
		t.Fatalf("the killed run's pin directory %s is not there to clean up: %v", pinRoot, err)
	}
	// A live process's pin directory: this test's own.
	live := fmt.Sprintf("/sys/fs/bpf/perfconform/run-%d", os.Getpid())
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(live)
	runConform(t, t.TempDir(), 3*time.Minute, nil, "run", "--host", "--requirement", "SIZE-KV-DEFAULT")
	if _, err := os.Stat(pinRoot); !os.IsNotExist(err) {
		os.RemoveAll(pinRoot)
		t.Errorf("the next run left the dead run's %s (%v)", pinRoot, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the next run removed a live process's pin directory %s: %v", live, err)
	}
}

// TestAdapterCheckSharesTheRules (item 4): adapter-check reports the same
// protocol violations conform run turns into ERRORs, from the same checks in
// adapters/process, with its hints.
func TestAdapterCheckSharesTheRules(t *testing.T) {
	needHost(t)
	for _, tc := range []struct{ control, step, hint string }{
		{"badready", "FAIL  ready", "list every perf event array"},
		{"exit3", "FAIL  shutdown", "exit 0 promptly"},
		// Issue 24, item 3: a bad line right after ready is that line.
		{"badbase64", "FAIL  stream", "one JSON object per line"},
	} {
		r := runConform(t, t.TempDir(), time.Minute, nil, "adapter-check", control(t, tc.control))
		if r.exit != 1 || !strings.Contains(r.stdout, tc.step) || !strings.Contains(r.stdout, tc.hint) {
			t.Errorf("adapter-check %s: exit %d, want 1 with %q and the hint %q", tc.control, r.exit, tc.step, tc.hint)
		}
	}
}

// TestNoVerdictIsLoud (issue 24, item 4): with --allow-errors, a gated
// loader whose every result is an ERROR (the garbage control never gets
// ready) no longer passes in silence: the summary names it and the run exits
// 1, unless --allow-no-verdict asks for exit 0 (the summary still names it).
func TestNoVerdictIsLoud(t *testing.T) {
	needHost(t)
	for _, tc := range []struct {
		name  string
		flags []string
		exit  int
	}{
		{"errors allowed", []string{"--allow-errors"}, 1},
		{"no verdict allowed too", []string{"--allow-errors", "--allow-no-verdict"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--host", "--loader", control(t, "garbage"), "--requirement", "SIZE-AUTO,RING-KEY"}, tc.flags...)
			r := runConform(t, t.TempDir(), 3*time.Minute, nil, args...)
			if r.exit != tc.exit {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.exit, tc.exit, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "NO VERDICT for garbage") {
				t.Errorf("the summary does not name the loader without a verdict:\n%s", r.stdout)
			}
			if gated := strings.Contains(r.stderr, "gate: garbage: no verdict at all"); gated != (tc.exit == 1) {
				t.Errorf("stderr names the no-verdict gate violation: %v, want %v:\n%s", gated, tc.exit == 1, r.stderr)
			}
		})
	}
}

// firstLineThenClose runs conform with stdout on a pipe that is closed
// after the first line (as `conform ... | head -1` does) and returns its
// exit status and stderr.
func firstLineThenClose(t *testing.T, tmp string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, conform(t), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	line, _ := bufio.NewReader(pr).ReadString('\n')
	pr.Close()
	t.Logf("conform %s: first line %q", strings.Join(args, " "), line)
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), stderr.String()
	}
	t.Logf("stderr:\n%s", stderr.String())
	return -1, stderr.String() // killed by a signal (SIGPIPE)
}

// TestClosedStdout (issue 24 item 11): a reader that goes away (`| head`)
// does not kill conform with SIGPIPE: `run --host --out` finishes, writes
// its results and removes its temporary directory; adapter-check finishes
// and unpins what it pinned.
func TestClosedStdout(t *testing.T) {
	needHost(t)
	tmp := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	exit, stderr := firstLineThenClose(t, tmp, "run", "--host", "--requirement", "SIZE-AUTO,SIZE-KV-DEFAULT,RING-KEY", "--out", out)
	if exit != 0 {
		t.Errorf("run --host with stdout closed: exit %d, want 0; stderr:\n%s", exit, stderr)
	}
	if got := loadersIn(t, out); got["reference"] != 3 {
		t.Errorf("results.json holds %v, want the 3 reference results", got)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary directory holds %v after the run", left)
	}

	before, _ := filepath.Glob("/sys/fs/bpf/conform-adapter-check-*")
	exit, stderr = firstLineThenClose(t, tmp, "adapter-check", control(t, "sizeone"))
	if exit != 1 {
		t.Errorf("adapter-check of sizeone with stdout closed: exit %d, want 1 (a failed step); stderr:\n%s", exit, stderr)
	}
	after, _ := filepath.Glob("/sys/fs/bpf/conform-adapter-check-*")
	for _, dir := range after {
		if slices.Contains(before, dir) {
			continue
		}
		// Another adapter-check running now holds its directory.
		if release, err := filelock.TryLock(dir); err == nil {
			release()
			os.RemoveAll(dir)
			t.Errorf("adapter-check left %s pinned", dir)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("temporary directory holds %v after adapter-check", left)
	}
}

// TestConcurrentRunsIntoOneOut (issue 24 item 8): while a run writes into
// --out, a second run into it is refused at once (both used to pass the
// emptiness check, and the last writer's results won); the first run's
// results are whole.
func TestConcurrentRunsIntoOneOut(t *testing.T) {
	needHost(t)
	out := filepath.Join(t.TempDir(), "out")
	// A never-ready adapter keeps the first run busy for its --timeout.
	first := exec.Command(conform(t), "run", "--host", "--loader", control(t, "hang"), "--timeout", "5s",
		"--requirement", "SIZE-AUTO", "--gate", "all", "--allow-errors", "--allow-no-verdict", "--out", out)
	first.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	stderr := &lockedBuffer{}
	first.Stderr = stderr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), "checking"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the first run did not start within a minute:\n%s", stderr.String())
		}
	}
	r := runConform(t, t.TempDir(), time.Minute, nil, "run", "--host", "--requirement", "SIZE-KV-DEFAULT", "--out", out, "--force")
	if r.exit != 2 || !strings.Contains(r.stderr, "in use") || r.stdout != "" {
		t.Errorf("a second run into the --out of a running one: exit %d, stdout %q: want exit 2 before any result, saying it is in use", r.exit, r.stdout)
	}
	if err := first.Wait(); err != nil {
		t.Errorf("first run: %v\n%s", err, stderr.String())
	}
	if got := loadersIn(t, out); got["hang"] != 1 || len(got) != 1 {
		t.Errorf("--out holds results of %v, want the first run's one result", got)
	}
}

// TestReportMergeOut (issue 24 item 12): report merge refuses an --out that
// is one of its inputs or holds anything but an earlier report.
func TestReportMergeOut(t *testing.T) {
	needHost(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	if r := runConform(t, dir, 3*time.Minute, nil, "run", "--host", "--requirement", "SIZE-KV-DEFAULT", "--out", a); r.exit != 0 {
		t.Fatalf("run: exit %d", r.exit)
	}
	before, _ := os.ReadFile(filepath.Join(a, "results.json"))
	for _, force := range [][]string{nil, {"--force"}} {
		r := runConform(t, dir, time.Minute, nil, append([]string{"report", "merge", a, "--out", a}, force...)...)
		if r.exit != 2 || !strings.Contains(r.stderr, "input") {
			t.Errorf("report merge A --out A %v: exit %d, stderr %q; want exit 2 saying it is an input", force, r.exit, r.stderr)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(a, "results.json")); !bytes.Equal(before, after) {
		t.Error("report merge rewrote its input")
	}
	b := filepath.Join(dir, "b")
	os.MkdirAll(b, 0o755)
	os.WriteFile(filepath.Join(b, "notes.txt"), []byte("mine"), 0o644)
	if r := runConform(t, dir, time.Minute, nil, "report", "merge", a, "--out", b, "--force"); r.exit != 2 || !strings.Contains(r.stderr, "notes.txt") {
		t.Errorf("report merge --force into a directory with notes.txt: exit %d, stderr %q; want exit 2 naming it", r.exit, r.stderr)
	}
}
