// Package bpfsystest holds the skip rule shared by tests (and conformtest)
// that load BPF programs and pin maps on this machine.
package bpfsystest

import (
	"os"
	"testing"

	"github.com/perfconform/perfconform/internal/bpfsys"
)

// RequireBPF skips tb unless it runs as root with a bpffs at
// bpfsys.BPFFSRoot: what loading programs and pinning maps here needs. why
// says what the test does that needs them ("the suite loads BPF programs").
func RequireBPF(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skipf("%s: run as root", why)
	}
	if err := bpfsys.CheckBPFFS(bpfsys.BPFFSRoot); err != nil {
		tb.Skipf("%s: %v", why, err)
	}
}
