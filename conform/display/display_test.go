package display

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
)

func TestPrintVMTableShowsAfterBootAndLoaders(t *testing.T) {
	runs := []report.Run{{Topology: "4cpu", Realized: true, Boot: 2500 * time.Millisecond, Duration: 4 * time.Second}}
	vms := []vmtest.VMResult{{Results: []result.Result{
		{Loader: "reference", Status: result.Pass, Duration: 300 * time.Millisecond},
		{Loader: "libbpf", Status: result.Pass, Duration: 500 * time.Millisecond},
		{Loader: "reference", Status: result.Fail, Duration: 400 * time.Millisecond},
	}}}
	var b strings.Builder
	PrintVMTable(&b, runs, vms)
	out := b.String()
	for _, want := range []string{"AFTER", " 1.5s ", "specs: reference 0.7s, libbpf 0.5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("VM table lacks %q:\n%s", want, out)
		}
	}
}

// TestEventsAsLines: without a terminal, events render as the command line
// prints them: results on out, progress lines on errw.
func TestEventsAsLines(t *testing.T) {
	var out, errw strings.Builder
	d := New(&out, &errw)
	pass := result.Result{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Pass, Loader: "reference", Detail: "sized\n2"}
	cpu := 1
	vmFail := result.Result{Requirement: "RING-KEY", Level: result.Must, Status: result.Fail, Loader: "libbpf@1.1", Kernel: "debian-6.1",
		Topology: "1cpu", CPU: &cpu, Errno: "E2BIG", Detail: "no ring"}
	for _, e := range []conform.Event{
		conform.Message{Text: "building adapter libbpf@1.1 into /bin"},
		conform.HostStarted{Checks: 2},
		conform.CheckStarted{Loader: "reference", Requirement: "SIZE-AUTO"},
		conform.ResultReady{Result: pass},
		conform.CheckStarted{Loader: "reference", Requirement: "SIZE-KV-DEFAULT"},
		conform.Stopped{},
		conform.VMsStarted{VMs: 1},
		conform.VMProgress{Progress: vmtest.Progress{Kernel: "debian-6.1", Topology: "1cpu", Stage: "start", Message: "qemu -smp 1\nmore"}},
		conform.Message{Text: "debian-6.1/1cpu died before booting"},
		conform.Stopped{},
		conform.ResultReady{Result: vmFail},
		conform.VMsFinished{Runs: []report.Run{{Kernel: report.Kernel{Name: "debian-6.1"}, Topology: "1cpu", Realized: true}},
			VMs: []vmtest.VMResult{{Results: []result.Result{vmFail}}}},
		conform.Message{Text: "results written to x"},
	} {
		d.Event(e)
	}
	d.Stop()
	wantOut := "PASS  MUST   SIZE-AUTO             reference    sized 2\n" +
		"FAIL  MUST   RING-KEY              libbpf@1.1@debian-6.1/1cpu errno=E2BIG cpu=1 no ring\n"
	if out.String() != wantOut {
		t.Errorf("out:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	stamp := regexp.MustCompile(`\[ *[0-9]+\.[0-9]s\]`)
	gotErr := stamp.ReplaceAllString(errw.String(), "[T]")
	wantErr := "building adapter libbpf@1.1 into /bin\n" +
		"[T] reference: checking (0/2 results so far)\n" +
		"[T] debian-6.1/1cpu booting: qemu -smp 1\n" +
		"debian-6.1/1cpu died before booting\n" +
		"KERNEL            TOPOLOGY       ACC  POSSIBLE PRESENT  ONLINE   REALIZED   BOOT  AFTER   TOTAL RESULTS / ERROR\n" +
		"debian-6.1        1cpu           -    -        -        -        true          -      -       - 0 pass 1 fail 0 error 0 skip; specs: libbpf@1.1 0.0s\n" +
		"results written to x\n"
	if gotErr != wantErr {
		t.Errorf("errw:\n%s\nwant:\n%s", gotErr, wantErr)
	}
}

func TestPrintSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   []result.Result
		want string
	}{
		{"counts", []result.Result{{Status: result.Pass}, {Status: result.Fail}, {Status: result.Pass}, {Status: result.Skip}},
			"requirement results: 2 PASS, 1 FAIL, 0 ERROR, 1 SKIP\n"},
		// A loader never judged is named, however many verdicts the
		// others got.
		{"a loader without a verdict", []result.Result{{Loader: "a", Status: result.Pass}, {Loader: "b", Status: result.Error},
			{Loader: "b", Status: result.Skip}, {Loader: "c", Status: result.Error}, {Loader: "c", Status: result.Fail}},
			"requirement results: 1 PASS, 1 FAIL, 2 ERROR, 1 SKIP\n" +
				"NO VERDICT for b: not one requirement PASSed or FAILed (every result ERROR or SKIP): nothing is known about this loader\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			PrintSummary(&b, tc.rs)
			if b.String() != tc.want {
				t.Errorf("summary %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// TestClosedPipe: a write to a stdout whose reader went away calls gone
// once and is dropped, as is every later one, so the run goes on.
func TestClosedPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	calls := 0
	out := ClosedPipe(w, func() { calls++ })
	for range 3 {
		if _, err := fmt.Fprintln(out, "PASS  MUST   SIZE-AUTO"); err != nil {
			t.Errorf("write after the reader went away: %v, want it dropped", err)
		}
	}
	if calls != 1 {
		t.Errorf("gone called %d times, want once", calls)
	}
}

// TestOddNamesAreEscaped: a loader declares its own name and an adapter
// writes its own error text; a newline or an ESC in them must not reach the
// terminal raw (a forged result line, a cleared screen). Names with such
// characters are shown quoted, text with them escaped, on one line.
func TestOddNamesAreEscaped(t *testing.T) {
	const evil = "evil\nFAIL  MUST   RING-KEY\x1b[2J"
	r := result.Result{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Fail, Loader: evil, Detail: "bad\x1b[31m red\r\nnext"}
	var out, errw strings.Builder
	d := New(&out, &errw)
	for _, e := range []conform.Event{
		conform.HostStarted{Checks: 1},
		conform.CheckStarted{Loader: evil, Requirement: "SIZE-AUTO"},
		conform.ResultReady{Result: r},
		conform.Stopped{},
		conform.VMsFinished{Runs: []report.Run{{Kernel: report.Kernel{Name: "debian-6.1"}, Topology: "1cpu", Error: "panic\x1b[0m here"}},
			VMs: []vmtest.VMResult{{Results: []result.Result{r}}}},
	} {
		d.Event(e)
	}
	d.Stop()
	all := out.String() + errw.String()
	if strings.ContainsAny(all, "\x1b\r") {
		t.Errorf("raw control characters reach the terminal:\n%q", all)
	}
	quoted := `"evil\nFAIL  MUST   RING-KEY\x1b[2J"`
	if want := "FAIL  MUST   SIZE-AUTO             " + quoted + " bad\\x1b[31m red  next\n"; out.String() != want {
		t.Errorf("out %q\nwant %q", out.String(), want)
	}
	for _, want := range []string{quoted + ": checking", "specs: " + quoted + " 0.0s", `panic\x1b[0m here`} {
		if !strings.Contains(errw.String(), want) {
			t.Errorf("errw lacks %q:\n%s", want, errw.String())
		}
	}
	for _, tc := range []struct{ in, name, text string }{
		{"libbpf@1.4", "libbpf@1.4", "libbpf@1.4"},
		{"aya…", "aya…", "aya…"},
		{"a\tb", `"a\tb"`, "a b"},
		{"\u202eevil", `"\u202eevil"`, `\u202eevil`},
	} {
		if got := Name(tc.in); got != tc.name {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.name)
		}
		if got := Text(tc.in); got != tc.text {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
		}
	}
}
