package reference_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/reference/topology/topologytest"
	"github.com/perfconform/perfconform/suite/trigger"
)

// TestFollowCPUs: a CPU that comes online after the reader opened gets a
// ring at its key within a few poll intervals. The host's CPUs are not
// hotplugged: the collection reads a fake sysfs whose online mask starts
// with CPU 0 only and then gains the host's CPU 1 (VMs hotplug for real,
// RING-HOTPLUG-ONLINE).
func TestFollowCPUs(t *testing.T) {
	needRoot(t)
	host, err := topology.Read("")
	if err != nil {
		t.Fatal(err)
	}
	if !host.Online.Contains(0) || !host.Online.Contains(1) {
		t.Skipf("needs CPUs 0 and 1 online, have %s", host.Online)
	}
	root := topologytest.Sysfs(t, topologytest.Masks{Possible: host.Possible.String(), Present: host.Present.String(), Online: "0"})
	coll, err := reference.Load(fixtures(t)["perf_auto_kv"], reference.WithSysfsRoot(root))
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	rd, err := coll.NewReader("events", perfring.Options{Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	tr, err := trigger.New(coll.Maps["events"])
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fire(1); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("CPU 1 before it came online: %v, want ENOENT", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		coll.FollowCPUs(ctx, "events", rd, 10*time.Millisecond, func(err error) { t.Error(err) })
	}()
	defer func() { cancel(); wg.Wait() }()
	if err := os.WriteFile(filepath.Join(root, "online"), []byte("0-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for err := tr.Fire(1); err != nil; err = tr.Fire(1) {
		if time.Now().After(deadline) {
			t.Fatalf("CPU 1 still without a ring 5s after it came online: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rd.SetDeadline(time.Now().Add(5 * time.Second))
	rec, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	if cpu, ok := tr.Match(rec.RawSample); !ok || cpu != 1 || rec.CPU != 1 {
		t.Fatalf("record %+v (ran on CPU %d, ours %v), want the sample from CPU 1", rec, cpu, ok)
	}
}
