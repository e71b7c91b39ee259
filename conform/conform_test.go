package conform

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/kernel/kerneltest"
	"github.com/perfconform/perfconform/vmtest/topology"
)

func TestGuestArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    GuestArgs
		encoded []string
	}{
		{"reference only", GuestArgs{Loaders: []GuestLoader{{Name: "reference"}}}, []string{"--loader", "reference"}},
		{"every kind", GuestArgs{
			Loaders: []GuestLoader{{Name: "reference"}, {Name: "libbpf", Path: "/perfconform/loaders/libbpf"}},
			Focus:   []string{"SIZE-AUTO", "RING-KEY"},
			Timeout: 30 * time.Second,
		}, []string{"--loader", "reference", "--loader", "libbpf=/perfconform/loaders/libbpf",
			"--requirement", "SIZE-AUTO", "--requirement", "RING-KEY", "--timeout", "30s"}},
		{"none (topologies verify)", GuestArgs{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.args.Encode()
			if !reflect.DeepEqual(got, tt.encoded) {
				t.Fatalf("encode = %q, want %q", got, tt.encoded)
			}
			back, err := ParseGuestArgs(got)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.args) {
				t.Fatalf("parse(encode) = %+v, want %+v", back, tt.args)
			}
		})
	}
}

func TestGuestArgsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--loader", "libbpf"}, "need NAME=PATH"},
		{[]string{"--loader", "=/x"}, "has no name"},
		{[]string{"--loader", "x=rel/path"}, "must be absolute"},
		{[]string{"--bogus"}, "not defined"},
		{[]string{"--loader", "reference", "extra"}, "unexpected"},
		{[]string{"--timeout", "soon"}, "invalid value"},
		{[]string{"--timeout", "-5s"}, "too short"},
		{[]string{"--timeout", "1ns"}, "too short"},
	} {
		_, err := ParseGuestArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseGuestArgs(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// parsed is ParseLoader of each --loader value.
func parsed(given ...string) []Loader {
	var out []Loader
	for _, g := range given {
		out = append(out, ParseLoader(g))
	}
	return out
}

// adapterScript writes an executable adapter at path whose info line
// declares loader.
func adapterScript(t *testing.T, path, loader string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n[ \"$1\" = info ] && echo '{\"loader\":\"" + loader + "\",\"version\":\"1\",\"protocol\":1}'\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestResolveLoaders: results are named after the loader an adapter's info
// line declares (not its file name); two loaders declaring one name, a file
// that cannot be run and an adapter without a valid info line are refused
// before anything runs; every adapter gets its own place in a VM whatever
// its file is called.
func TestResolveLoaders(t *testing.T) {
	dir := t.TempDir()
	noop := func(string) {}
	aya := adapterScript(t, filepath.Join(dir, "target/release/perfconform-adapter"), "aya")
	other := adapterScript(t, filepath.Join(dir, "other/perfconform-adapter"), "libbpf-rs")
	odd := adapterScript(t, filepath.Join(dir, "my adapter & co|!,()=x"), "odd & name=1")
	twin := adapterScript(t, filepath.Join(dir, "twin"), "aya")
	plain := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noInfo := filepath.Join(dir, "noinfo")
	if err := os.WriteFile(noInfo, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	specs, err := resolveLoaderSpecs(context.Background(), parsed("reference", aya, other, odd), dir, 5*time.Second, noop)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := specNames(specs), []string{"reference", "aya", "libbpf-rs", "odd & name=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("names = %q, want %q (what each info line declares)", got, want)
	}
	vl, err := vmLoadersOf(context.Background(), specs, []string{"amd64", "arm64"}, noop)
	if err != nil {
		t.Fatal(err)
	}
	want := []GuestLoader{{Name: "reference"}, {Name: "aya", Path: GuestLoaderDir + "/1-perfconform-adapter"},
		{Name: "libbpf-rs", Path: GuestLoaderDir + "/2-perfconform-adapter"}, {Name: "odd & name=1", Path: GuestLoaderDir + "/3-my_adapter_co_x"}}
	if !reflect.DeepEqual(vl.guest, want) {
		t.Errorf("guest loaders = %+v, want %+v", vl.guest, want)
	}
	for _, a := range []string{"amd64", "arm64"} { // scripts run on any architecture
		if f := vl.files[a]; len(f) != 3 || f[0].Host != aya || f[0].Guest != want[1].Path {
			t.Errorf("%s initramfs files = %+v, want the three adapters at their guest paths", a, f)
		}
	}
	// An executable of the host's architecture cannot go into VMs of another.
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	self, _ := os.Executable()
	if _, err := vmLoadersOf(context.Background(), []loaderSpec{{Given: self, Name: "self", Path: self}}, []string{foreign}, noop); err == nil ||
		!strings.Contains(err.Error(), "cannot run in the "+foreign+" VMs") {
		t.Errorf("host executable for %s VMs: %v", foreign, err)
	}
	back, err := ParseGuestArgs(GuestArgs{Loaders: vl.guest}.Encode())
	if err != nil || !reflect.DeepEqual(back.Loaders, vl.guest) {
		t.Errorf("guest args round trip = %+v, %v; want %+v", back.Loaders, err, vl.guest)
	}

	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"reference", "reference"}, `both declare loader "reference"`},
		{[]string{aya, twin}, `both declare loader "aya"`},
		{[]string{aya, filepath.Join(dir, "target/release/.", "perfconform-adapter")}, `both declare loader "aya"`},
		{[]string{plain}, "not an executable file"},
		{[]string{filepath.Join(dir, "missing")}, "no such file"},
		{[]string{noInfo}, "conform adapter-check"},
		{[]string{"no-such-builtin"}, "unknown adapter"},
	} {
		_, err := resolveLoaderSpecs(context.Background(), parsed(tt.names...), dir, 5*time.Second, noop)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolveLoaderSpecs(%q) = %v, want an error containing %q", tt.names, err, tt.want)
		}
	}
}

// TestCheckGate: without --gate the reference gates when it runs and every
// loader otherwise; a --gate naming no loader of the run is refused.
func TestCheckGate(t *testing.T) {
	for _, tt := range []struct {
		gate  []string
		names []string
		want  []string
		err   string
	}{
		// No gate: every loader of the run, the reference too when the
		// user brought it for comparison (issue 24: it must not take the
		// gate from the loader under test).
		{nil, []string{"reference", "cilium-ebpf"}, nil, ""},
		{nil, []string{"cilium-ebpf"}, nil, ""},
		{nil, []string{"libbpf", "aya"}, nil, ""},
		{[]string{"all"}, []string{"libbpf"}, nil, ""},
		{[]string{"reference"}, []string{"reference", "cilium-ebpf"}, []string{"reference"}, ""},
		{[]string{"aya"}, []string{"libbpf", "aya"}, []string{"aya"}, ""},
		{[]string{"reference"}, []string{"cilium-ebpf"}, nil, `no loader of this run is called "reference"`},
		{[]string{"foo"}, []string{"reference"}, nil, `no loader of this run is called "foo"`},
		{[]string{"all", "aya"}, []string{"aya"}, nil, "does not combine"},
		// A bare name covers every version of a loader, a full one that version.
		{[]string{"libbpf"}, []string{"libbpf@1.1", "libbpf@1.4"}, []string{"libbpf"}, ""},
		{[]string{"libbpf@1.4"}, []string{"libbpf@1.1", "libbpf@1.4"}, []string{"libbpf@1.4"}, ""},
		{[]string{"libbpf@1.5"}, []string{"libbpf@1.1", "libbpf@1.4"}, nil, `no loader of this run is called "libbpf@1.5"`},
		{[]string{"libbpf"}, []string{"libbpfgo@v0.8.0"}, nil, `no loader of this run is called "libbpf"`},
	} {
		got, err := checkGate(tt.gate, tt.names)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("checkGate(%q, %q) = %v, want an error containing %q", tt.gate, tt.names, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("checkGate(%q, %q) = %q, %v; want %q", tt.gate, tt.names, got, err, tt.want)
		}
	}
}

// TestOpenOut: --out must be new or empty, or with --force hold only an
// earlier run's output (replaced just before the run); it must be writable;
// a directory created for a run that never started is removed again.
func TestOpenOut(t *testing.T) {
	earlier := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{"results.json", "report.md", "debian-6.1_1cpu/vm.json", "empty/"} {
			p := filepath.Join(dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if !strings.HasSuffix(f, "/") {
				os.WriteFile(p, []byte("{}"), 0o644)
			}
		}
		return dir
	}
	t.Run("new is created, and removed when abandoned", func(t *testing.T) {
		base := t.TempDir()
		dir := filepath.Join(base, "a", "b")
		o, err := openOut(dir, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			t.Fatalf("--out not created: %v", err)
		}
		o.Abandon()
		if _, err := os.Stat(filepath.Join(base, "a")); !os.IsNotExist(err) {
			t.Errorf("abandoned --out left %s behind (%v)", filepath.Join(base, "a"), err)
		}
	})
	t.Run("existing empty is kept when abandoned", func(t *testing.T) {
		dir := t.TempDir()
		o, err := openOut(dir, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		o.Abandon()
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("abandon removed a directory it did not create: %v", err)
		}
	})
	t.Run("earlier output refused without --force", func(t *testing.T) {
		dir := earlier(t)
		if _, err := openOut(dir, false, 0); err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("openOut = %v, want a refusal that mentions --force", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
			t.Errorf("refused --out was changed: %v", err)
		}
	})
	t.Run("earlier output replaced with --force", func(t *testing.T) {
		dir := earlier(t)
		o, err := openOut(dir, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.ClearPrevious(); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("after --force, --out still holds %v", entries)
		}
	})
	t.Run("other files refused even with --force", func(t *testing.T) {
		dir := earlier(t)
		os.WriteFile(filepath.Join(dir, "thesis.tex"), nil, 0o644)
		if _, err := openOut(dir, true, 0); err == nil || !strings.Contains(err.Error(), "thesis.tex") {
			t.Fatalf("openOut = %v, want a refusal naming thesis.tex", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
			t.Errorf("refused --out was changed: %v", err)
		}
	})
	t.Run("a VM directory with foreign files refused even with --force", func(t *testing.T) {
		// Issue 24 item 12: vm.json beside a file a run never writes is
		// not a VM's logs.
		dir := earlier(t)
		os.WriteFile(filepath.Join(dir, "debian-6.1_1cpu", "notes.txt"), []byte("mine"), 0o644)
		if _, err := openOut(dir, true, 0); err == nil || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("openOut = %v, want a refusal naming notes.txt", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "debian-6.1_1cpu", "notes.txt")); err != nil {
			t.Errorf("refused --out was changed: %v", err)
		}
	})
	t.Run("one run at a time", func(t *testing.T) {
		// Issue 24 item 8: two runs into one empty --out both passed the
		// emptiness check; the second must be refused while the first
		// holds the directory, and admitted (by the usual rules) after.
		dir := t.TempDir()
		o, err := openOut(dir, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openOut(dir, false, 0); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second openOut while the first is open = %v, want a refusal saying it is in use", err)
		}
		if _, err := openOut(dir, true, 0); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second openOut --force while the first is open = %v, want a refusal saying it is in use", err)
		}
		o.Close()
		o2, err := openOut(dir, false, 0)
		if err != nil {
			t.Fatalf("openOut after the first run closed: %v", err)
		}
		o2.Close()
	})
	t.Run("unwritable", func(t *testing.T) {
		// A read-only mount refuses even root.
		dir := t.TempDir()
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_RDONLY, ""); err != nil {
			t.Skipf("cannot mount a read-only tmpfs here: %v", err)
		}
		defer unix.Unmount(dir, 0)
		if _, err := openOut(dir, false, 0); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Fatalf("openOut(read-only) = %v, want 'not writable'", err)
		}
		if _, err := openOut(filepath.Join(dir, "sub"), false, 0); err == nil {
			t.Fatalf("openOut(under read-only) succeeded")
		}
	})
}

func TestVMPayloadTimeout(t *testing.T) {
	base := vmtest.DefaultPayloadTimeout("tcg")
	for _, tt := range []struct {
		loaders int
		sample  time.Duration
		want    time.Duration
	}{
		{1, 0, base},
		{4, 0, 4 * base},
		{0, 0, base},
		{1, 2 * TCGSampleTimeout, 2 * base},
		{2, time.Second, 2 * base},
	} {
		if got := vmPayloadTimeout(tt.loaders, tt.sample); got != tt.want {
			t.Errorf("vmPayloadTimeout(%d, %v) = %v, want %v", tt.loaders, tt.sample, got, tt.want)
		}
	}
	// However long the sample timeout and many the loaders, the bound
	// never wraps around to a negative duration (a VM killed after boot).
	for _, sample := range []time.Duration{MaxTimeout, 100000 * time.Hour, math.MaxInt64} {
		if got := vmPayloadTimeout(1000, sample); got < 1000*base {
			t.Errorf("vmPayloadTimeout(1000, %v) = %v, want at least %v", sample, got, 1000*base)
		}
	}
}

// TestVMRunReport covers how each way a VM can end becomes a run and results.
func TestVMRunReport(t *testing.T) {
	top, err := topology.Get("hotplug-slots")
	if err != nil {
		t.Fatal(err)
	}
	job := vmtest.Job{Kernel: "debian-6.1", Topology: top}
	loaders := []GuestLoader{{Name: "reference"}, {Name: "crash", Path: GuestLoaderDir + "/crash"}}
	reqs := suite.Requirements[:3]
	k := kernel.Kernel{Name: "debian-6.1", Release: "6.1.0-56-cloud-amd64"}
	masks := result.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	pass := func(loader, req string) result.Result {
		return result.Result{Requirement: req, Level: result.Must, Status: result.Pass, Loader: loader, LoaderVersion: "v-" + loader,
			Kernel: "debian-6.1", Topology: "hotplug-slots", Accelerator: "tcg", Masks: &masks}
	}
	var all []result.Result
	for _, l := range loaders {
		for _, r := range reqs {
			all = append(all, pass(l.Name, r.ID))
		}
	}

	outDir := t.TempDir()
	var console strings.Builder
	for i := range 60 {
		fmt.Fprintf(&console, "[    %d.000000] line %d\n", i, i)
	}
	console.WriteString("[   61.000000] Kernel panic - not syncing: Attempted to kill init!\n")
	if err := os.WriteFile(filepath.Join(outDir, "console.log"), []byte(console.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("clean", func(t *testing.T) {
		vm := vmtest.VMResult{Kernel: k, Topology: "hotplug-slots", Accelerator: "tcg", Realized: true, Masks: masks, Expected: masks,
			Results: all, Started: t0, Booted: t0.Add(8 * time.Second), Done: t0.Add(40 * time.Second), Ended: t0.Add(41 * time.Second)}
		run, rs := vmRunReport(job, vm, loaders, reqs)
		if run.Error != "" || !run.Realized || len(rs) != len(all) {
			t.Fatalf("run %+v with %d results, want realized, no error, %d results", run, len(rs), len(all))
		}
		if run.Boot != 8*time.Second || run.Duration != 41*time.Second || run.Kernel.Version != k.Release || *run.Requested != masks {
			t.Errorf("run timing/kernel/masks wrong: %+v", run)
		}
		wantLoaders := "[{reference v-reference} {crash v-crash}]"
		if got := fmt.Sprint(run.Loaders); got != wantLoaders {
			t.Errorf("loaders = %s, want %s", got, wantLoaders)
		}
	})

	t.Run("kernel given by path", func(t *testing.T) {
		img := kerneltest.FakeBzImage(t, "", "5.10.0-32-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP")
		kp, err := kernel.FromFile(img)
		if err != nil {
			t.Fatal(err)
		}
		vm := vmtest.VMResult{Kernel: kp, Topology: "hotplug-slots", Accelerator: "tcg", Realized: true, Masks: masks, Expected: masks}
		run, _ := vmRunReport(vmtest.Job{Kernel: img, Topology: top}, vm, loaders, reqs)
		if run.Kernel != (report.Kernel{Name: "5.10.0-32-cloud-amd64", Version: "5.10.0-32-cloud-amd64", Arch: "amd64", Path: img}) {
			t.Errorf("kernel %+v: want it named by its release, the path kept", run.Kernel)
		}
		catalog, _ := vmRunReport(job, vmtest.VMResult{Kernel: k, Topology: "hotplug-slots"}, loaders, reqs)
		if catalog.Kernel.Path != "" {
			t.Errorf("catalog kernel carries path %q", catalog.Kernel.Path)
		}
	})

	t.Run("died", func(t *testing.T) {
		vm := vmtest.VMResult{Kernel: k, Topology: "hotplug-slots", Accelerator: "tcg", Realized: true, Masks: masks, Expected: masks,
			Results: all[:2], Started: t0, Booted: t0.Add(8 * time.Second), Ended: t0.Add(20 * time.Second), OutDir: outDir}
		vm.Err = fmt.Errorf("%w: event stream ended without done; console tail:\n%s", vmtest.ErrNoDone, "…")
		run, rs := vmRunReport(job, vm, loaders, reqs)
		if run.Error == "" || strings.Contains(run.Error, "console tail") || !run.Realized {
			t.Errorf("run error %q realized %v: want the error without the tail, realized true", run.Error, run.Realized)
		}
		if len(run.ConsoleTail) != vmtest.ConsoleTailLines || !strings.Contains(run.ConsoleTail[len(run.ConsoleTail)-1], "Attempted to kill init") {
			t.Errorf("console tail has %d lines ending %q", len(run.ConsoleTail), run.ConsoleTail[len(run.ConsoleTail)-1])
		}
		if len(rs) != len(all) {
			t.Fatalf("%d results, want %d (2 delivered + the rest as ERROR)", len(rs), len(all))
		}
		if !reflect.DeepEqual(rs[:2], all[:2]) {
			t.Errorf("delivered results changed: %+v", rs[:2])
		}
		for _, r := range rs[2:] {
			if r.Status != result.Error || !strings.Contains(r.Detail, "did not complete") ||
				!strings.Contains(r.Detail, "Attempted to kill init") || r.Kernel != "debian-6.1" || r.Topology != "hotplug-slots" {
				t.Errorf("synthesized result %+v: want ERROR with the VM error and console evidence", r)
			}
		}
	})

	t.Run("declared not realizable", func(t *testing.T) {
		vm := vmtest.VMResult{Kernel: kernel.Kernel{Name: "debian-6.12", Release: "6.12.117+deb12-cloud-amd64"}, Topology: "hotplug-slots",
			Err: fmt.Errorf("topology hotplug-slots on kernel 6.12.117: %w: possible = present", topology.ErrNotRealizable)}
		run, rs := vmRunReport(vmtest.Job{Kernel: "debian-6.12", Topology: top}, vm, loaders, reqs)
		if run.Realized || run.Error != "" || !strings.Contains(run.NotRealizable, "not realizable") || len(rs) != 0 || run.Masks != nil {
			t.Errorf("run %+v, %d results: want not realized, the reason (not an error), no results, no masks", run, len(rs))
		}
		// It neither passes nor gates.
		doc := &report.Results{Runs: []report.Run{run}, Results: []result.Result{{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Pass, Loader: "reference", Kernel: "debian-6.1", Topology: "1cpu"}}}
		if v, err := report.Gate(doc, report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}}); err != nil || len(v) != 0 {
			t.Errorf("Gate: %v %v, want no violation for a declared-unrealizable topology", v, err)
		}
	})

	t.Run("measured not realized", func(t *testing.T) {
		got := result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}
		vm := vmtest.VMResult{Kernel: k, Topology: "hotplug-slots", Accelerator: "tcg", Masks: got, Expected: masks,
			Started: t0, Booted: t0.Add(time.Second), Done: t0.Add(2 * time.Second), Ended: t0.Add(2 * time.Second),
			Err: errors.Join(fmt.Errorf("%w: got possible 0-1", vmtest.ErrTopologyNotRealized), fmt.Errorf("%w: topology not realized", vmtest.ErrGuest))}
		run, rs := vmRunReport(job, vm, loaders, reqs)
		if run.Realized || run.Masks == nil || *run.Masks != got || *run.Requested != masks || len(rs) != 0 {
			t.Errorf("run %+v, %d results: want not realized with the masks it got, no results", run, len(rs))
		}
	})

	t.Run("cancelled before start", func(t *testing.T) {
		vm := vmtest.VMResult{Kernel: k, Topology: "hotplug-slots", Err: context.Canceled, OutDir: filepath.Join(outDir, "never")}
		run, rs := vmRunReport(job, vm, loaders, reqs)
		if run.Error != "context canceled" || len(rs) != len(loaders)*len(reqs) {
			t.Fatalf("run error %q, %d results: want the cancellation and every requirement as ERROR", run.Error, len(rs))
		}
		for _, r := range rs {
			if r.Status != result.Error {
				t.Errorf("%s/%s: %s, want ERROR", r.Loader, r.Requirement, r.Status)
			}
		}
	})
}

func TestBootFailureIsRetriedOnlyBeforeBoot(t *testing.T) {
	booted := time.Now()
	tests := []struct {
		name string
		vm   vmtest.VMResult
		want bool
	}{
		{"clean", vmtest.VMResult{}, false},
		{"kernel oops before the first event", vmtest.VMResult{Err: fmt.Errorf("guest ended without done: %w", vmtest.ErrNoDone)}, true},
		{"boot timeout", vmtest.VMResult{Err: fmt.Errorf("no booted event: %w", vmtest.ErrTimeout)}, true},
		{"died during the suite", vmtest.VMResult{Booted: booted, Err: fmt.Errorf("x: %w", vmtest.ErrNoDone)}, false},
		{"declared unrealizable", vmtest.VMResult{Err: fmt.Errorf("x: %w", topology.ErrNotRealizable)}, false},
		{"cancelled", vmtest.VMResult{Err: fmt.Errorf("%w: %w", vmtest.ErrNoDone, context.Canceled)}, false},
	}
	for _, tt := range tests {
		if got := bootFailure(tt.vm); got != tt.want {
			t.Errorf("%s: bootFailure = %v, want %v", tt.name, got, tt.want)
		}
	}
}
