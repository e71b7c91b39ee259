package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
