// Package conformtest runs the conformance suite from a Go test: a loader
// project checks its own loader with `go test`, on the host and in VMs.
//
//	func TestConformanceHost(t *testing.T) {
//		conformtest.Run(t, conform.Plan{Host: true,
//			Loaders: []conform.Loader{conform.InProcess(myloader.New())}})
//	}
//
//	func TestConformanceVMs(t *testing.T) {
//		conformtest.Run(t, conform.Plan{
//			Loaders:    []conform.Loader{conform.GoAdapter("example.com/myloader/cmd/adapter")},
//			Kernels:    []string{"debian-6.1"},
//			Topologies: []string{"sparse"},
//		})
//	}
//
// What each needs: a host run loads BPF programs, so root and bpffs at
// /sys/fs/bpf; a VM run needs QEMU and the kernels fetched (`conform kernels
// fetch debian-6.1`), and the go toolchain to build the adapter (GoAdapter)
// and the static guest (package conform). Without them the test is skipped,
// saying why; with -short VM runs are skipped too.
//
// A test binary can make one host run and any number of VM runs: the suite
// runs on Ginkgo, once per process, so put every loader into one plan. A
// second host run fails its test (suite.ErrSecondRun), and so does a host
// run under go test's -count other than 1 or -parallel, which Ginkgo refuses
// (conform.ErrTestFlags): run host conformance tests with -count=1. Neither
// does any work nor stops the test binary.
//
// Host runs of adapter executables (AdapterPath, GoAdapter with Host) start
// them under a session wrapper that is the test binary itself: call Main
// from TestMain, or the possible-CPU substitution those requirements need is
// refused and they end as ERROR saying so.
package conformtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/conform/display"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

// Run runs p as part of tb and returns its results. It skips tb when the
// plan cannot run here (see the package documentation), logs the run as the
// conform command shows it (one line per result, progress, the VM table),
// and reports every gating violation (p.Gate; by default the MUST
// requirements of every loader of the plan, so a reference added for
// comparison is gated beside the loader under test, never instead of it) as
// one tb.Error naming the loader, requirement, kernel and topology and the
// detail. Any
// other failure of the run is fatal. Without p.OutDir the reports go to a
// temporary directory of tb.
func Run(tb testing.TB, p conform.Plan, opts ...conform.Option) *report.Results {
	tb.Helper()
	if err := p.Validate(); err != nil {
		tb.Fatalf("conformtest: %v", err)
	}
	if p.Host {
		requireHost(tb)
	} else {
		for _, k := range p.Kernels {
			vmtesting.RequireVMs(tb, k)
		}
	}
	if p.OutDir == "" {
		p.OutDir = tb.TempDir()
	}
	lw := &logWriter{tb: tb}
	d := display.New(lw, lw)
	res, err := conform.Run(tb.Context(), p, append([]conform.Option{conform.WithEvents(d.Event)}, opts...)...)
	d.Stop()
	lw.flush()
	var ge *conform.GateError
	if errors.As(err, &ge) {
		for _, v := range ge.Violations {
			tb.Error(Violation(v))
		}
		if oe := (*conform.OutError)(nil); errors.As(err, &oe) {
			tb.Errorf("conformtest: %v", oe)
		}
		return res
	}
	if err != nil {
		tb.Fatalf("conformtest: run: %v", err)
	}
	tb.Logf("conformtest: %s", summary(res))
	return res
}

// Main is TestMain for tests whose host runs start adapter executables: the
// test binary serves as their session wrapper (process.MaybeRunNamespaceWrapper).
func Main(m *testing.M) {
	process.MaybeRunNamespaceWrapper()
	os.Exit(m.Run())
}

// Violation is how Run reports one gating violation: loader, level and
// requirement, where (KERNEL/TOPOLOGY, or "host"), and the status with the
// whole detail.
func Violation(v report.Violation) string {
	var where string
	switch {
	case v.Kernel == "host" && v.Topology == "host":
		where = " on host"
	case v.Kernel != "" || v.Topology != "":
		where = " on " + v.Kernel + "/" + v.Topology
	}
	loader := display.Name(v.Loader)
	if loader == "" {
		loader = "(no loader)"
	}
	if v.Result == nil {
		return fmt.Sprintf("%s%s: %s", loader, where, display.Text(v.Reason))
	}
	r := v.Result
	detail := r.Detail
	if r.CPU != nil {
		detail = fmt.Sprintf("cpu=%d %s", *r.CPU, detail)
	}
	if r.Errno != "" {
		detail += " (" + r.Errno + ")"
	}
	return fmt.Sprintf("%s %s %s%s: %s: %s", loader, r.Level, r.Requirement, where, r.Status, display.Text(detail))
}

func requireHost(tb testing.TB) {
	tb.Helper()
	bpfsystest.RequireBPF(tb, "conformtest: a host run loads BPF programs and pins maps")
}

func summary(res *report.Results) string {
	if res == nil {
		return "no results"
	}
	counts := map[result.Status]int{}
	for _, r := range res.Results {
		counts[r.Status]++
	}
	var parts []string
	for _, s := range []result.Status{result.Pass, result.Fail, result.Error, result.Skip} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return fmt.Sprintf("%d results in %d run(s): %s", len(res.Results), len(res.Runs), strings.Join(parts, ", "))
}

// logWriter turns the display's output into one tb.Log per line.
type logWriter struct {
	tb  testing.TB
	buf bytes.Buffer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // no newline yet: keep it
			break
		}
		w.tb.Log(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (w *logWriter) flush() {
	if w.buf.Len() > 0 {
		w.tb.Log(w.buf.String())
		w.buf.Reset()
	}
}
