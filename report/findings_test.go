package report_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// bigRun is a run the size of the committed matrix in miniature, with the
// shapes that made report.md hard to scan: one failure repeated on every
// topology of two kernels, one on a few topologies whose CPU evidence only
// some results carry, a SHOULD failure, and an interrupted VM whose missing
// checks are ERRORs with identical evidence for every loader and
// requirement. Loader names carry versions, as real results may.
func bigRun() *report.Results {
	kernels := []string{"debian-6.1", "debian-6.12"}
	topos := []string{"1cpu", "4cpu", "sparse", "sparse-high", "gapped-possible"}
	loaders := []string{"libbpf@1.4", "cilium-ebpf@v0.9.1", "reference"}
	reqs := []struct {
		id    string
		level result.Level
	}{{"COMPAT-RELOAD", result.Should}, {"RING-KEY", result.Must}, {"SIZE-AUTO", result.Must}, {"SIZE-KV-DEFAULT", result.Must}}
	out := &report.Results{Generated: testTime}
	for _, k := range kernels {
		for _, topo := range topos {
			out.Runs = append(out.Runs, report.Run{Kernel: report.Kernel{Name: k}, Topology: topo, Realized: true})
			for _, l := range loaders {
				for _, rq := range reqs {
					r := res(k, topo, l, rq.id, rq.level, result.Pass, "")
					switch {
					case k == "debian-6.12" && topo == "gapped-possible":
						// The VM was interrupted before anything ran.
						r.Status = result.Error
						r.Detail = "not checked: VM debian-6.12/gapped-possible did not complete the suite: context canceled"
					case l == "libbpf@1.4" && rq.id == "SIZE-KV-DEFAULT":
						// the same error, with the size of each topology
						r.Status, r.Detail = result.Fail, fmt.Sprintf("map events (max_entries %d): BPF_MAP_CREATE: EINVAL", len(topo))
					case l == "cilium-ebpf@v0.9.1" && rq.id == "RING-KEY" && strings.HasPrefix(topo, "sparse"):
						// one CPU's clause on sparse-high, two on sparse:
						// one cause
						r.Status, r.Detail = result.Fail, "CPU 2: bpf_perf_event_output returned -EOPNOTSUPP (the ring at this CPU's key belongs to another CPU); CPU 3: bpf_perf_event_output returned -ENOENT (no ring at this CPU's key)"
						if topo == "sparse-high" {
							r.CPU, r.Errno = cpu(5), "EOPNOTSUPP"
							r.Detail = "CPU 5: bpf_perf_event_output returned -EOPNOTSUPP (the ring at this CPU's key belongs to another CPU)"
						}
					case l != "reference" && rq.id == "COMPAT-RELOAD":
						r.Status, r.Detail = result.Fail, "second load failed: File exists"
					}
					out.Results = append(out.Results, r)
				}
			}
		}
	}
	return out
}

// TestFindingsAreGrouped: FAILs that differ only by where they were
// measured are one root cause listing the places with one evidence line,
// MUST causes come first, an interrupted VM is one ERROR finding, and the
// summary names each loader's causes.
func TestFindingsAreGrouped(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, bigRun(), report.Options{}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	causes := md[strings.Index(md, "## Root causes"):strings.Index(md, "## Matrix")]
	var entries []string
	for _, line := range strings.Split(causes, "\n") {
		if strings.HasPrefix(line, "<a id=") {
			entries = append(entries, line)
		}
	}
	want := []string{
		// MUST first, then by loader
		`<a id="c1"></a>**C1** cilium-ebpf@v0.9.1 — MUST: RING-KEY (4 results) — bites: on sparse, sparse-high — seen on debian-6.1, debian-6.12: sparse, sparse-high`,
		`<a id="c2"></a>**C2** libbpf@1.4 — MUST: SIZE-KV-DEFAULT (9 results) — bites: every topology — seen on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high`,
		`<a id="c3"></a>**C3** cilium-ebpf@v0.9.1 — SHOULD: COMPAT-RELOAD (9 results) — bites: every topology — seen on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high`,
		`<a id="c4"></a>**C4** libbpf@1.4 — SHOULD: COMPAT-RELOAD (9 results) — bites: every topology — seen on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high`,
	}
	if strings.Join(entries, "\n") != strings.Join(want, "\n") {
		t.Errorf("causes:\n%s\nwant:\n%s", strings.Join(entries, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{
		// one interrupted VM: every loader and requirement in one finding,
		// listed with the strictest level it hides, labelled with every
		// level it holds (COMPAT-RELOAD is SHOULD)
		"- **ERROR** `COMPAT-RELOAD`, `RING-KEY`, `SIZE-AUTO`, `SIZE-KV-DEFAULT` (MUST, SHOULD) — reference, cilium-ebpf@v0.9.1, libbpf@1.4 — 12 results on debian-6.12: gapped-possible",
		"  - For reference, cilium-ebpf@v0.9.1, libbpf@1.4 users: Not a verdict on reference, cilium-ebpf@v0.9.1, libbpf@1.4",
		// the representative is the result with a CPU and errno; the two
		// texts of RING-KEY (one CPU named, or two) are one cause
		"- Evidence (cilium-ebpf@v0.9.1, debian-6.1 / sparse-high): CPU 5 · errno EOPNOTSUPP — CPU 5: bpf\\_perf\\_event\\_output returned -EOPNOTSUPP",
		// the summary: loader → causes → where → evidence
		"| cilium-ebpf v0.9.1 | [C1](#c1) | MUST: RING-KEY | cilium-ebpf@v0.9.1 | on sparse, sparse-high |",
		"|  | [C3](#c3) | SHOULD: COMPAT-RELOAD | cilium-ebpf@v0.9.1 | every topology |",
		"|  | ERROR: 4 checks could not run (not a verdict) | | | debian-6.12: gapped-possible | | see Findings |",
		"| libbpf 1.4 | [C2](#c2) | MUST: SIZE-KV-DEFAULT | libbpf@1.4 | every topology |",
		"| reference | none | — | — | — | — | — |",
		// cells name what failed; a level whose every check errored says so
		"**FAIL (MUST)**<br>MUST: 1 FAIL (RING-KEY), 2 PASS<br>SHOULD: 1 FAIL (COMPAT-RELOAD)",
		"**ERROR**<br>MUST: 3 ERROR (all)<br>SHOULD: 1 ERROR (COMPAT-RELOAD)",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	if i, j, k := strings.Index(md, "## Compatibility"), strings.Index(md, "## Summary"), strings.Index(md, "## Matrix"); i < 0 || j < i || k < j {
		t.Error("the compatibility table and the summary do not lead the report")
	}
	var html bytes.Buffer
	if err := report.WriteHTML(&html, bigRun(), report.Options{}); err != nil {
		t.Fatal(err)
	}
	if want := "<code>SIZE-KV-DEFAULT</code> (MUST, SHOULD)"; !strings.Contains(html.String(), want) {
		t.Errorf("report.html lacks %q", want)
	}
}
