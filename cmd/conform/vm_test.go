package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

func TestGuestArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    guestArgs
		encoded []string
	}{
		{"reference only", guestArgs{Loaders: []guestLoader{{Name: "reference"}}}, []string{"--loader", "reference"}},
		{"every kind", guestArgs{
			Loaders: []guestLoader{{Name: "reference"}, {Name: "libbpf", Path: "/perfconform/loaders/libbpf"}},
			Focus:   []string{"SIZE-AUTO", "RING-KEY"},
			Timeout: 30 * time.Second,
		}, []string{"--loader", "reference", "--loader", "libbpf=/perfconform/loaders/libbpf",
			"--requirement", "SIZE-AUTO", "--requirement", "RING-KEY", "--timeout", "30s"}},
		{"none (topologies verify)", guestArgs{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.args.encode()
			if !reflect.DeepEqual(got, tt.encoded) {
				t.Fatalf("encode = %q, want %q", got, tt.encoded)
			}
			back, err := parseGuestArgs(got)
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
	} {
		_, err := parseGuestArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseGuestArgs(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestResolveVMLoaders(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "my-adapter")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	noop := func(string) {}

	got, err := resolveVMLoaders(context.Background(), []string{"reference", exe}, dir, noop)
	if err != nil {
		t.Fatal(err)
	}
	want := []guestLoader{{Name: "reference"}, {Name: "my-adapter", Path: GuestLoaderDir + "/my-adapter"}}
	if !reflect.DeepEqual(got.guest, want) {
		t.Errorf("guest loaders = %+v, want %+v", got.guest, want)
	}
	if len(got.files) != 1 || got.files[0].Host != exe || got.files[0].Guest != GuestLoaderDir+"/my-adapter" {
		t.Errorf("initramfs files = %+v, want only %s at %s/my-adapter", got.files, exe, GuestLoaderDir)
	}

	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"reference", "reference"}, "both report as loader"},
		{[]string{exe, filepath.Join(dir, ".", "my-adapter")}, "both report as loader"},
		{[]string{plain}, "not an executable"},
		{[]string{filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"no-such-builtin"}, "unknown adapter"},
	} {
		_, err := resolveVMLoaders(context.Background(), tt.names, dir, noop)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolveVMLoaders(%q) = %v, want an error containing %q", tt.names, err, tt.want)
		}
	}
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
}

// TestVMRunReport covers how each way a VM can end becomes a run and results.
func TestVMRunReport(t *testing.T) {
	top, err := topology.Get("hotplug-slots")
	if err != nil {
		t.Fatal(err)
	}
	job := vmtest.Job{Kernel: "debian-6.1", Topology: top}
	loaders := []guestLoader{{Name: "reference"}, {Name: "crash", Path: GuestLoaderDir + "/crash"}}
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
