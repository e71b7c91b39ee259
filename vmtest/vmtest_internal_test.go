package vmtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/topology"
)

func TestJobDirs(t *testing.T) {
	one, _ := topology.Get("1cpu")
	sparse, _ := topology.Get("sparse")
	jobs := []Job{
		{Kernel: "debian-6.1", Topology: one},
		{Kernel: "debian-6.1", Topology: sparse},
		{Kernel: "debian-6.1", Topology: one},
		{Kernel: "/some/where/vmlinuz", Topology: one},
	}
	got := jobDirs("/out", []string{"debian-6.1", "debian-6.1", "debian-6.1", "6.6.0-1 test+x"}, jobs)
	want := []string{"/out/debian-6.1_1cpu", "/out/debian-6.1_sparse", "/out/debian-6.1_1cpu-2", "/out/6.6.0-1-test-x_1cpu"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConsoleTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "console.log")
	var b strings.Builder
	for i := range 80 {
		fmt.Fprintf(&b, "line %d\r\n", i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := strings.Split(consoleTail(p, ConsoleTailLines), "\n")
	if len(tail) != ConsoleTailLines || tail[0] != "line 30" || tail[len(tail)-1] != "line 79" {
		t.Errorf("tail has %d lines, %q … %q", len(tail), tail[0], tail[len(tail)-1])
	}
	if got := consoleTail(filepath.Join(t.TempDir(), "missing"), 5); !strings.Contains(got, "no console log") {
		t.Errorf("missing log: %q", got)
	}
}

// TestEndedErrorNamesTheKernelPanic (issue 24 item 10): a guest whose
// kernel panicked ("No working init found" from a broken initramfs) is
// reported with the panic and what the kernel said about the initramfs in
// the error's first line, not only as "guest ended without done" with a
// stack trace for a tail.
func TestEndedErrorNamesTheKernelPanic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "console.log")
	var b strings.Builder
	b.WriteString("[    0.512345] Initramfs unpacking failed: junk within compressed archive\r\n")
	b.WriteString("[    1.234567] Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.\r\n")
	for i := range 60 {
		fmt.Fprintf(&b, "[    1.2346%02d]  dump_stack_lvl+0x%x/0x60\r\n", i, i)
	}
	b.WriteString("[    1.240000] ---[ end Kernel panic - not syncing: No working init found.  Try passing init= option to kernel. ]---\r\n")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	err := withConsole(fmt.Errorf("%w: %w", ErrNoDone, event.ErrMissingDone), p)
	first, _, _ := strings.Cut(err.Error(), "\n")
	if !errors.Is(err, ErrNoDone) || !strings.Contains(first, "kernel panic: No working init found") || !strings.Contains(first, "Initramfs unpacking failed: junk within compressed archive") {
		t.Errorf("first line %q (ErrNoDone %v): want the panic and the initramfs message", first, errors.Is(err, ErrNoDone))
	}
	os.WriteFile(p, []byte("[    0.1] booting\r\n"), 0o644)
	if err := withConsole(ErrNoDone, p); strings.Contains(err.Error(), "panic") {
		t.Errorf("no panic on the console, yet the error says %q", err)
	}
}
