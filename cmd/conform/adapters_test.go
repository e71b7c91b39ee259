package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/reference/topology"
)

// TestAdapterCheckAya builds the aya adapter (when cargo and rustc are here;
// CI has them) and runs `conform adapter-check` on it: info, load + ready,
// pin, one sample per online CPU attributed to that CPU, clean shutdown.
func TestAdapterCheckAya(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the aya adapter with cargo")
	}
	if os.Geteuid() != 0 {
		t.Skip("adapter-check loads BPF programs: run as root")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		t.Skip("bpffs is not mounted at /sys/fs/bpf")
	}
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
	var out bytes.Buffer
	err = runAdapterCheck(ctx, &out, path, checkFlags{readyTimeout: 30 * time.Second, sampleTimeout: 10 * time.Second, pages: 8})
	t.Logf("adapter-check %s:\n%s", path, out.String())
	if err != nil {
		t.Fatal(err)
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
		if !strings.Contains(out.String(), w) {
			t.Errorf("adapter-check output lacks %q", w)
		}
	}
}

// TestAdaptersTableKeepsReasonsOutOfColumns: `conform adapters` puts every
// reason a loader cannot run under the table as a numbered note, so the
// columns stay readable however long the reason.
func TestAdaptersTableKeepsReasonsOutOfColumns(t *testing.T) {
	var out bytes.Buffer
	if err := runAdapters(context.Background(), &out, false, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "\tno: ") || strings.Contains(text, " no: ") {
		t.Errorf("a reason is inside the table:\n%s", text)
	}
	for _, m := range regexp.MustCompile(`no \[(\d+)\]`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(text, "\n["+m[1]+"] ") {
			t.Errorf("cell %q has no note [%s]:\n%s", m[0], m[1], text)
		}
	}
}
