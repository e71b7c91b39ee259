package conformtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/conform/conformtest"
	"github.com/perfconform/perfconform/examples/goloader"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// Host runs of adapter executables need the test binary as their session
// wrapper (without it goloader's DEGRADE-POSSIBLE is an ERROR: "a substituted
// possible-CPU file needs the session wrapper").
func TestMain(m *testing.M) { conformtest.Main(m) }

// recorder is a testing.TB that keeps Error calls instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Error(args ...any) { r.errors = append(r.errors, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// named is a loader under another name.
type named struct {
	suite.Loader
	name string
}

func (n named) Info(ctx context.Context) (protocol.Info, error) {
	info, err := n.Loader.Info(ctx)
	info.Loader = n.name
	return info, err
}

// TestRunReportsViolations runs correct loaders (the reference in-process,
// brought for comparison as users do, and a Go adapter started under Main's
// session wrapper) and a wrong one on the host: Run must report one error
// per gating violation, each naming the wrong loader, the requirement and
// where, and none for the correct ones. The reference in the plan must not
// take the gate from the others (issue 24).
func TestRunReportsViolations(t *testing.T) {
	rec := &recorder{TB: t}
	wrong := named{&refadapter.Loader{Options: []reference.Option{reference.WithPossibleCPUs(1)}}, "sizeone"}
	res := conformtest.Run(rec, conform.Plan{Host: true, Loaders: []conform.Loader{
		conform.InProcess(refadapter.New()),
		conform.GoAdapter("github.com/perfconform/perfconform/examples/goloader/cmd/adapter"),
		conform.InProcess(wrong),
	}})
	if res == nil {
		t.Fatal("no results")
	}
	var want []string
	for _, r := range res.Results {
		if (r.Loader == "reference" || r.Loader == goloader.Name) && r.Level == result.Must && r.Status != result.Pass {
			t.Errorf("%s: %s %s: %s", r.Loader, r.Requirement, r.Status, r.Detail)
		}
		if r.Loader == goloader.Name && r.Requirement == "DEGRADE-POSSIBLE" && !strings.Contains(r.Detail, "not-a-cpu-list") {
			t.Errorf("%s DEGRADE-POSSIBLE: %q: want the refusal of the substituted possible file (through the session wrapper)", r.Loader, r.Detail)
		}
		if r.Loader == "sizeone" && r.Level == result.Must && (r.Status == result.Fail || r.Status == result.Error) {
			want = append(want, r.Requirement)
		}
	}
	if len(want) == 0 {
		t.Fatal("the wrong loader failed no MUST requirement: this machine needs 2 or more possible CPUs for it to be wrong")
	}
	if len(rec.errors) != len(want) {
		t.Errorf("%d errors, want one per violation %q:\n%s", len(rec.errors), want, strings.Join(rec.errors, "\n"))
	}
	for _, req := range want {
		prefix := "sizeone MUST " + req + " on host: FAIL: "
		if !slices.ContainsFunc(rec.errors, func(e string) bool { return strings.HasPrefix(e, prefix) }) {
			t.Errorf("no error starts %q", prefix)
		}
	}
	t.Logf("reported:\n%s", strings.Join(rec.errors, "\n"))
}

func TestViolation(t *testing.T) {
	cpu := 3
	for _, tc := range []struct {
		v    report.Violation
		want string
	}{
		{report.Violation{Kernel: "debian-6.1", Topology: "sparse", Loader: "goloader", Result: &result.Result{
			Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Fail, Loader: "goloader",
			Detail: "max_entries 1, want 4", CPU: &cpu, Errno: "E2BIG"}},
			"goloader MUST SIZE-AUTO on debian-6.1/sparse: FAIL: cpu=3 max_entries 1, want 4 (E2BIG)"},
		{report.Violation{Kernel: "host", Topology: "host", Loader: "goloader", Result: &result.Result{
			Requirement: "RING-DELIVER", Level: result.Must, Status: result.Error, Detail: "adapter crashed"}},
			"goloader MUST RING-DELIVER on host: ERROR: adapter crashed"},
		{report.Violation{Kernel: "debian-6.1", Topology: "sparse", Reason: "run error: VM did not boot"},
			"(no loader) on debian-6.1/sparse: run error: VM did not boot"},
		{report.Violation{Loader: "goloader", Reason: "no results for this loader"},
			"goloader: no results for this loader"},
		// a declared name or a detail with control characters is escaped
		{report.Violation{Kernel: "host", Topology: "host", Loader: "odd\x1b[2J", Result: &result.Result{
			Requirement: "RING-KEY", Level: result.Must, Status: result.Fail, Detail: "line\nbreak\x1b"}},
			`"odd\x1b[2J" MUST RING-KEY on host: FAIL: line break\x1b`},
	} {
		if got := conformtest.Violation(tc.v); got != tc.want {
			t.Errorf("Violation(%+v)\n got %q\nwant %q", tc.v, got, tc.want)
		}
	}
}

// countEnv makes TestHostRunCounted run (in TestGoTestCount's child).
const countEnv = "PERFCONFORM_TEST_COUNT"

// TestHostRunCounted is TestGoTestCount's child test: one small host run.
func TestHostRunCounted(t *testing.T) {
	if os.Getenv(countEnv) == "" {
		t.Skip("run by TestGoTestCount")
	}
	conformtest.Run(t, conform.Plan{Host: true, Loaders: []conform.Loader{conform.InProcess(refadapter.New())},
		Requirements: []string{"SIZE-AUTO"}})
}

// TestGoTestCount: Ginkgo refuses go test's -count other than 1 and
// -parallel by exiting the process from inside the suite. A host run under
// them must fail its test saying so, and the test binary must go on (the
// other tests run, nothing is left in TMPDIR).
func TestGoTestCount(t *testing.T) {
	if os.Getenv(countEnv) != "" {
		return // the child's test after TestHostRunCounted: the binary went on
	}
	bpfsystest.RequireBPF(t, "a host run loads BPF programs")
	for _, flag := range []string{"-test.count=2", "-test.parallel=2"} {
		t.Run(flag, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^(TestHostRunCounted|TestGoTestCount)$", flag, "-test.v")
			cmd.Env = append(os.Environ(), countEnv+"=1", "TMPDIR="+tmp)
			out, err := cmd.CombinedOutput()
			t.Logf("child:\n%s", out)
			if err == nil || !strings.Contains(string(out), "--- FAIL: TestHostRunCounted") || !strings.Contains(string(out), "--- PASS: TestGoTestCount") {
				t.Errorf("child: %v; want TestHostRunCounted failing and the binary going on to the next test", err)
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(flag, "-test."), "=")
			if !strings.Contains(string(out), "-"+name) || strings.Contains(string(out), "Ginkgo detected") {
				t.Errorf("the failure does not name -%s, or Ginkgo refused the flags itself", name)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("the run left %v in its TMPDIR", left)
			}
		})
	}
}
