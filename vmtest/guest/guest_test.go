package guest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// fakeCPURoot writes a sysfs-like CPU directory with the three masks and a
// cpuN/online file for CPUs 1..n-1.
func fakeCPURoot(t *testing.T, n int, m result.Masks) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "cpu")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for cpu := 1; cpu < n; cpu++ {
		dir := filepath.Join(root, fmt.Sprintf("cpu%d", cpu))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "online"), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range map[string]string{"possible": m.Possible, "present": m.Present, "online": m.Online} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func get(t *testing.T, name string) topology.Topology {
	t.Helper()
	top, err := topology.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

const release61 = "6.1.0-56-cloud-amd64"

func TestRealize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		top     string
		release string
		cpus    int
		sysfs   result.Masks // what the fake kernel shows (online after the actions)
		err     error
		offline []int // cpuN/online files that must read 0
	}{
		{"1cpu", "1cpu", release61, 1, result.Masks{Possible: "0", Present: "0", Online: "0"}, nil, nil},
		{"sparse", "sparse", release61, 4, result.Masks{Possible: "0-3", Present: "0-3", Online: "0,2-3"}, nil, []int{1}},
		{"sparse-high", "sparse-high", release61, 8, result.Masks{Possible: "0-7", Present: "0-7", Online: "0,5,7"}, nil, []int{1, 2, 3, 4, 6}},
		{"hotplug slots on 6.1", "hotplug-slots", release61, 2, result.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}, nil, nil},
		{"hotplug slots missing", "hotplug-slots", release61, 2, result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}, guest.ErrTopologyNotRealized, nil},
		{"hotplug slots on 6.12", "hotplug-slots", "6.12.117+deb12-cloud-amd64", 2, result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}, topology.ErrNotRealizable, nil},
		{"offline CPU missing", "sparse", release61, 1, result.Masks{Possible: "0-3", Present: "0-3", Online: "0,2-3"}, guest.ErrGuestAction, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeCPURoot(t, tc.cpus, tc.sysfs)
			got, want, err := guest.Realize(get(t, tc.top), tc.release, root)
			if tc.err == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !errors.Is(err, guest.ErrTopologyNotRealized) {
					t.Fatalf("error %v, want %v and ErrTopologyNotRealized", err, tc.err)
				}
			}
			if got != tc.sysfs {
				t.Errorf("read masks %+v, want %+v", got, tc.sysfs)
			}
			if tc.err == nil && got != want {
				t.Errorf("no error but masks %+v differ from expectation %+v", got, want)
			}
			for _, cpu := range tc.offline {
				b, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("cpu%d", cpu), "online"))
				if err != nil || strings.TrimSpace(string(b)) != "0" {
					t.Errorf("cpu%d/online = %q, %v; want 0", cpu, b, err)
				}
			}
		})
	}
}

func TestRealizeBindMountsPossible(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	root := fakeCPURoot(t, 6, result.Masks{Possible: "0-5", Present: "0-5", Online: "0-1,4-5"})
	possible := filepath.Join(root, "possible")
	got, _, err := guest.Realize(get(t, "gapped-possible"), release61, root)
	t.Cleanup(func() { _ = unix.Unmount(possible, unix.MNT_DETACH) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Possible != "0-1,4-5" {
		t.Errorf("possible %q after the bind mount, want 0-1,4-5", got.Possible)
	}
	if err := unix.Unmount(possible, 0); err != nil {
		t.Fatalf("the possible file was not a mount point: %v", err)
	}
	b, _ := os.ReadFile(possible)
	if strings.TrimSpace(string(b)) != "0-5" {
		t.Errorf("underlying possible file changed to %q", b)
	}
}

// hostRelease is what guest.Run reads with uname in this test process.
func hostRelease(t *testing.T) string {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(uts.Release[:])
}

func TestRun(t *testing.T) {
	top := get(t, "4cpu")
	exp, err := top.ExpectFor(runtime.GOARCH, hostRelease(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sysfs   result.Masks
		payload guest.Payload
		status  guest.Status
		kinds   string
		message string
	}{
		{
			name:  "payload runs",
			sysfs: exp.Masks,
			payload: func(ctx context.Context, env guest.Env, emit func(event.Event)) error {
				emit(event.Result(result.Result{Requirement: "R", Status: result.Pass, Loader: env.Args[0] + "@" + env.Masks.Online}))
				return nil
			},
			status: guest.Completed,
			kinds:  "booted realized result",
		},
		{
			name:  "payload error",
			sysfs: exp.Masks,
			payload: func(context.Context, guest.Env, func(event.Event)) error {
				return errors.New("loader missing")
			},
			status: guest.Completed, kinds: "booted realized error", message: "payload: loader missing",
		},
		{
			name:  "payload panic",
			sysfs: exp.Masks,
			payload: func(context.Context, guest.Env, func(event.Event)) error {
				panic("boom")
			},
			status: guest.Panicked, kinds: "booted realized error", message: "payload panicked: boom",
		},
		{
			name:  "payload emits done",
			sysfs: exp.Masks,
			payload: func(_ context.Context, _ guest.Env, emit func(event.Event)) error {
				emit(event.Event{Kind: event.KindDone})
				return nil
			},
			status: guest.Completed, kinds: "booted realized error", message: "payload emitted done",
		},
		{
			name:  "not realized: payload not run",
			sysfs: result.Masks{Possible: "0-3", Present: "0-3", Online: "0-2"},
			payload: func(context.Context, guest.Env, func(event.Event)) error {
				panic("must not run")
			},
			status: guest.NotRealized, kinds: "booted realized error", message: "topology not realized",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeCPURoot(t, 4, tc.sysfs)
			var events []event.Event
			cfg := guest.Config{Kernel: "debian-6.12", Topology: top, Args: []string{"ref"}}
			status := guest.Run(context.Background(), cfg, root, tc.payload, func(e event.Event) { events = append(events, e) })
			if status != tc.status {
				t.Errorf("status %v, want %v", status, tc.status)
			}
			var kinds []string
			for _, e := range events {
				kinds = append(kinds, string(e.Kind))
				if err := e.Validate(); err != nil {
					t.Errorf("invalid event: %v", err)
				}
			}
			if strings.Join(kinds, " ") != tc.kinds {
				t.Fatalf("events %v, want %s", kinds, tc.kinds)
			}
			last := events[len(events)-1]
			if tc.message != "" && !strings.Contains(last.Message, tc.message) {
				t.Errorf("last event %q lacks %q", last.Message, tc.message)
			}
			if r := events[1].Realized; r.Match != (tc.status != guest.NotRealized) || r.Masks != tc.sysfs {
				t.Errorf("realized %+v for sysfs %+v", r, tc.sysfs)
			}
			if tc.status == guest.Completed && tc.message == "" && events[2].Result.Loader != "ref@"+exp.Masks.Online {
				t.Errorf("payload saw env %q", events[2].Result.Loader)
			}
		})
	}
}

// fakeCgroupRoot writes a cgroup v2 root beside a fake CPU root, as Realize
// looks for it there: controllers as given, and the loaders' cgroup with the
// effective cpuset the fake kernel reports (it cannot compute one).
func fakeCgroupRoot(t *testing.T, cpuRoot, controllers, effective string) string {
	t.Helper()
	root := filepath.Join(filepath.Dir(cpuRoot), "cgroup")
	loaders := filepath.Join(root, guest.LoaderCgroupName)
	if err := os.MkdirAll(loaders, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, v := range map[string]string{
		filepath.Join(root, "cgroup.controllers"):       controllers,
		filepath.Join(root, "cgroup.subtree_control"):   "",
		filepath.Join(loaders, "cpuset.cpus"):           "",
		filepath.Join(loaders, "cpuset.cpus.effective"): effective,
	} {
		if err := os.WriteFile(path, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The cpuset topology's restriction is part of what is realized: the guest
// makes the loaders' cgroup with the topology's CPUs and reads back what the
// kernel made of them; the masks carry them as the loaders' affinity.
func TestRealizeRestrictsLoaders(t *testing.T) {
	all := result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}
	for _, tc := range []struct {
		name, controllers, effective string
		want                         result.Masks
		err                          error
	}{
		{"restricted", "cpuset cpu io memory pids", "0-1", result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3", Affinity: "0-1"}, nil},
		{"the kernel gave other CPUs", "cpuset cpu", "0-3", result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3", Affinity: "0-3"}, guest.ErrTopologyNotRealized},
		{"no cpuset controller", "cpu io memory pids", "0-1", all, guest.ErrGuestAction},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeCPURoot(t, 4, all)
			cg := fakeCgroupRoot(t, root, tc.controllers, tc.effective)
			got, want, err := guest.Realize(get(t, "cpuset"), release61, root)
			if tc.err == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.err != nil && (!errors.Is(err, tc.err) || !errors.Is(err, guest.ErrTopologyNotRealized)) {
				t.Fatalf("error %v, want %v and ErrTopologyNotRealized", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("realized %+v, want %+v", got, tc.want)
			}
			if want.Affinity != "0-1" {
				t.Errorf("expected affinity %q, want 0-1", want.Affinity)
			}
			if tc.err != nil {
				return
			}
			for file, v := range map[string]string{"cgroup.subtree_control": "+cpuset", guest.LoaderCgroupName + "/cpuset.cpus": "0-1"} {
				if b, _ := os.ReadFile(filepath.Join(cg, file)); string(b) != v {
					t.Errorf("%s = %q, want %q", file, b, v)
				}
			}
			if dir := guest.LoaderCgroupDir(root); dir != filepath.Join(cg, guest.LoaderCgroupName) {
				t.Errorf("LoaderCgroupDir = %s, want the cgroup made under %s", dir, cg)
			}
		})
	}
	// Topologies without the restriction touch no cgroup.
	root := fakeCPURoot(t, 4, all)
	if got, _, err := guest.Realize(get(t, "4cpu"), release61, root); err != nil || got != all {
		t.Errorf("4cpu: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "cgroup")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("4cpu made a cgroup tree: %v", err)
	}
}
