package report_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// sample is the report the rendering tests look at: two kernels, a MUST
// failure (known on 6.1 via the baseline), an ERROR, a run error and a
// conflict.
func sample() (*report.Results, report.Options) {
	s1 := shard("debian-6.1")
	s2 := shard("debian-6.12")
	s2.Runs = append(s2.Runs, run("debian-6.12", "numa-4"))
	s2.Runs[2].Error = "guest did not report within 120s"
	s2.Runs[2].ConsoleTail = []string{"[    2.1] virtio_blk: probe failed", "[    2.2] init: waiting for /dev/vport0p1"}
	flaky := res("debian-6.1", "smp-2", "reference", "SIZE-001", result.Must, result.Fail, "map has 1 entries, want 2")
	merged, _ := report.Merge(s1, s2, &report.Results{Results: []result.Result{flaky}})
	return merged, report.Options{
		Impacts: map[string]string{"RING-002": "Events from CPUs without a ring are silently lost."},
		Baselines: map[string]report.Baseline{"cilium-ebpf": {Schema: 1, Loader: "cilium-ebpf", Deviations: []report.Deviation{
			{Requirement: "RING-002", Reason: "cilium/ebpf#1234, fixed in v0.23", Kernel: "debian-6.1"},
		}}},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test -update rewrites it after review):\n%s", name, path, got)
	}
}

func TestMarkdown(t *testing.T) {
	r, opts := sample()
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, r, opts); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		// the compatibility table leads: requirement × loader version
		"## Compatibility",
		"| requirement | reference v1 | cilium-ebpf v1 |",
		"| RING-002 | ✓ | ✗ on hotplug-8 |",
		"| SIZE-001 | ✗ on smp-2 | ✓ |",
		// the summary speaks in causes, with where they bite and evidence
		"## Summary",
		"| reference | [C1](#c1) | MUST: SIZE-001 | reference | on smp-2 | upstream status not recorded | reference on debian-6.1 / smp-2: map has 1 entries, want 2 |",
		"| cilium-ebpf | [C2](#c2) | MUST: RING-002 | cilium-ebpf | on hotplug-8 | upstream status not recorded | cilium-ebpf on debian-6.12 / hotplug-8: CPU 4 · errno ENODEV: perf ring for CPU 4: no such device |",
		"|  | [C3](#c3) | MUST: RING-002 (known deviation) |",
		"|  | ERROR: 1 check could not run (not a verdict) | | | debian-6.12: smp-2 | | see Findings |",
		// matrix cells count by level and name what failed, known failures marked
		"| reference v1 | **PASS**<br>MUST: 2 PASS<br>SHOULD: 1 SKIP<br>INFO: 1 PASS | **FAIL (MUST)**<br>MUST: 1 FAIL (SIZE-001), 1 PASS<br>SHOULD: 1 SKIP<br>INFO: 1 PASS |",
		"| cilium-ebpf v1 | **FAIL (known)**<br>MUST: 1 FAIL (known: RING-002), 1 PASS<br>SHOULD: 1 SKIP<br>INFO: 1 PASS |",
		"**ERROR**<br>MUST: 2 PASS<br>SHOULD: 1 ERROR (LEGACY-003)<br>INFO: 1 PASS |",
		"**run error** |",
		// a cause with where, CPU, errno and the caller's impact text
		"**C2** cilium-ebpf — MUST: RING-002 (1 result) — bites: on hotplug-8 — seen on debian-6.12: hotplug-8\n" +
			"- Evidence (cilium-ebpf, debian-6.12 / hotplug-8): CPU 4 · errno ENODEV — perf ring for CPU 4: no such device\n" +
			"- Upstream: upstream status not recorded\n" +
			"- For cilium-ebpf users: Events from CPUs without a ring are silently lost.",
		// the generic fallback for a requirement without impact text
		"- For reference users: Where listed, reference breaks a MUST",
		// ERROR says it is not a verdict on the loader
		"- **ERROR** `LEGACY-003` (SHOULD) — cilium-ebpf — 1 result on debian-6.12: smp-2",
		"## Known deviations",
		"  - Known deviation: cilium/ebpf#1234, fixed in v0.23",
		"- Known deviation: cilium/ebpf#1234, fixed in v0.23",
		"## Run errors",
		"[    2.2] init: waiting for /dev/vport0p1",
		"## Conflicts",
		"- `SIZE-001` debian-6.1 / smp-2 / reference: kept **FAIL**; seen FAIL: map has 1 entries, want 2; PASS",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The 6.1 RING-002 failure is known: it is not also a finding.
	findings := md[strings.Index(md, "## Findings"):strings.Index(md, "## Known deviations")]
	if strings.Contains(findings, "debian-6.1: hotplug-8") {
		t.Error("a known deviation is listed among the findings")
	}
	// FAILs are root causes, not findings.
	if strings.Contains(findings, "**FAIL**") {
		t.Errorf("a FAIL is listed among the findings:\n%s", findings)
	}
	golden(t, "report.golden.md", buf.Bytes())
}

func TestMarkdownEscapesText(t *testing.T) {
	r := &report.Results{Results: []result.Result{
		res("k", "t", "l", "R", result.Must, result.Fail, "bad | pipe\nand *stars* <script>"),
	}}
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `: bad \| pipe and \*stars\* \<script\>`) {
		t.Errorf("detail not escaped:\n%s", buf.String())
	}
}

// The JUnit document as a parser sees it.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnit(t *testing.T) {
	r, opts := sample()
	var buf bytes.Buffer
	if err := report.WriteJUnit(&buf, r, opts); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, buf.Bytes())
	}
	// 2 kernels × 2 topologies × 2 loaders, plus the numa-4 run error.
	if len(doc.Suites) != 9 {
		t.Fatalf("%d suites, want 9", len(doc.Suites))
	}
	// 32 results + 1 run error; fails: RING-002 ×2 kernels + conflict SIZE-001;
	// errors: LEGACY-003 + run; skips: 16 - 1 error.
	if doc.Tests != 33 || doc.Failures != 3 || doc.Errors != 2 || doc.Skipped != 7 {
		t.Errorf("totals tests=%d failures=%d errors=%d skipped=%d", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	byName := map[string]int{}
	for i, s := range doc.Suites {
		byName[s.Name] = i
	}
	s := doc.Suites[byName["debian-6.12/hotplug-8/cilium-ebpf"]]
	var sawFail bool
	for _, c := range s.Cases {
		switch c.Name {
		case "RING-002 [MUST]":
			sawFail = c.Failure != nil && c.Failure.Message == "perf ring for CPU 4: no such device" &&
				strings.Contains(c.Failure.Body, "CPU 4 · errno ENODEV")
		case "LEGACY-003 [SHOULD]":
			if c.Skipped == nil {
				t.Errorf("LEGACY-003 on hotplug-8 is not skipped")
			}
		}
	}
	if !sawFail || s.Failures != 1 || s.Tests != 4 {
		t.Errorf("suite %s: failure not reported (tests=%d failures=%d)", s.Name, s.Tests, s.Failures)
	}
	known := doc.Suites[byName["debian-6.1/hotplug-8/cilium-ebpf"]]
	for _, c := range known.Cases {
		if c.Name == "RING-002 [MUST]" && (c.Failure == nil || !strings.HasPrefix(c.Failure.Message, "known deviation (cilium/ebpf#1234")) {
			t.Errorf("known deviation not marked: %+v", c.Failure)
		}
	}
	runErr := doc.Suites[byName["debian-6.12/numa-4"]]
	if len(runErr.Cases) != 1 || runErr.Cases[0].Error == nil || !strings.Contains(runErr.Cases[0].Error.Body, "vport0p1") {
		t.Errorf("run error suite: %+v", runErr)
	}
	golden(t, "junit.golden.xml", buf.Bytes())
}

func TestSyntheticAndUnrealizableRunsAreLabelled(t *testing.T) {
	r := &report.Results{
		Runs: []report.Run{
			{Kernel: report.Kernel{Name: "debian-6.1"}, Topology: "gapped-possible", Realized: true, Synthetic: true},
			{Kernel: report.Kernel{Name: "debian-6.12"}, Topology: "hotplug-slots", NotRealizable: "hotplug slots are not possible CPUs here"},
		},
		Results: []result.Result{{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Pass, Loader: "reference", Kernel: "debian-6.1", Topology: "gapped-possible"}},
	}
	var md, html bytes.Buffer
	if err := report.WriteMarkdown(&md, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteHTML(&html, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"report.md": md.String(), "report.html": html.String()} {
		for _, want := range []string{"gapped-possible (synthetic)", "not booted: hotplug slots are not possible CPUs here"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if v, err := report.Gate(r, report.GateOptions{FailLevel: result.Must}); err != nil || len(v) != 0 {
		t.Errorf("Gate = %v, %v; a declared-unrealizable run must not gate", v, err)
	}
}

// A kernel given by path is named by its release: its heading and the setup
// line must not repeat the release as its version.
func TestKernelNamedByRelease(t *testing.T) {
	const rel = "5.10.0-32-cloud-amd64"
	r := &report.Results{Generated: testTime, Runs: []report.Run{{
		Kernel: report.Kernel{Name: rel, Version: rel, Path: "/boot/vmlinuz-" + rel}, Topology: "smp-2", Realized: true, Accelerator: "tcg",
	}}, Results: []result.Result{res(rel, "smp-2", "reference", "SIZE-001", result.Must, result.Pass, "")}}
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	if !strings.Contains(md, "## Kernel "+rel+"\n") || strings.Contains(md, rel+" ("+rel+")") {
		t.Errorf("report.md names the kernel wrongly:\n%s", md)
	}
}
