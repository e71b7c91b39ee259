package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// TestVersionHistory: report.md gets one "across releases" section per
// loader that ran at two or more versions, covering only the topologies
// where two or more of them ran, with a row for each requirement that did
// not pass everywhere and the release where its outcome changed.
func TestVersionHistory(t *testing.T) {
	r := &report.Results{Generated: testTime, Runs: []report.Run{run("debian-6.1", "sparse"), run("debian-6.1", "smp-2")}}
	// Given out of order: the section orders versions numerically.
	for _, v := range []string{"v0.16.0", "v0.9.1", "v0.22.0", "v0.15.0"} {
		l := "cilium-ebpf@" + v
		key := res("debian-6.1", "sparse", l, "RING-KEY", result.Must, result.Pass, "")
		if v == "v0.16.0" || v == "v0.22.0" {
			key.Status, key.Detail, key.CPU, key.Errno = result.Fail, "ring for CPU 2 filed at key 1\nmore", cpu(2), "ENOENT"
		}
		// The same status with different evidence is a change; scratch
		// paths that differ (a PID) are not.
		stage := "load"
		if v == "v0.9.1" {
			stage = "reader"
		}
		pin := res("debian-6.1", "sparse", l, "COMPAT-FOREIGN-PIN", result.Should, result.Fail,
			"refused at the "+stage+" stage: /sys/fs/bpf/perfconform/run-1/017-x/progs-"+v+": nope")
		r.Results = append(r.Results, key, pin, res("debian-6.1", "sparse", l, "SIZE-AUTO", result.Must, result.Pass, ""))
	}
	// Only the default ran on smp-2: not part of the history.
	r.Results = append(r.Results,
		res("debian-6.1", "smp-2", "cilium-ebpf@v0.22.0", "SIZE-AUTO", result.Must, result.Fail, "undersized"),
		// One version of libbpf: no libbpf section.
		res("debian-6.1", "sparse", "libbpf@1.1", "RING-KEY", result.Must, result.Fail, "x"),
		res("debian-6.1", "sparse", "reference", "RING-KEY", result.Must, result.Pass, ""))
	var b bytes.Buffer
	if err := report.WriteMarkdown(&b, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## cilium/ebpf across releases",
		"### cilium/ebpf on kernel debian-6.1 (topologies: sparse)",
		"| topology | requirement | v0.9.1 | v0.15.0 | v0.16.0 | v0.22.0 |",
		"| sparse | RING-KEY MUST | PASS | PASS | FAIL (CPU 2, ENOENT) | FAIL (CPU 2, ENOENT) |",
		"1 other (topology, requirement) rows passed on every version.",
		"- **sparse RING-KEY**: v0.9.1–v0.15.0 PASS; v0.16.0–v0.22.0 FAIL (CPU 2, ENOENT): ring for CPU 2 filed at key 1 …",
		"- **sparse COMPAT-FOREIGN-PIN**: v0.9.1 FAIL: refused at the reader stage: …/progs-v0.9.1: nope; v0.15.0–v0.22.0 FAIL: refused at the load stage: …/progs-v0.15.0: nope",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, unwanted := range []string{"libbpf across", "| smp-2 | SIZE-AUTO", "## reference across"} {
		if strings.Contains(md, unwanted) {
			t.Errorf("report.md has %q", unwanted)
		}
	}
	if i, j := strings.Index(md, "across releases"), strings.Index(md, "## Findings"); i < 0 || i > j {
		t.Errorf("the history should come before the findings")
	}
	b.Reset()
	if err := report.WriteHTML(&b, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>cilium/ebpf across releases</h2>", `<td class="st-FAIL">FAIL (CPU 2, ENOENT)</td>`, "<th>v0.9.1</th><th>v0.15.0</th>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// Without versioned loaders there is no such section.
	b.Reset()
	if err := report.WriteMarkdown(&b, shard("debian-6.1"), report.Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "across releases") {
		t.Errorf("unversioned results got a version history")
	}
}
