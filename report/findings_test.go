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
						r.Status, r.Detail = result.Fail, fmt.Sprintf("map events: BPF_MAP_CREATE: EINVAL on %s", topo)
					case l == "cilium-ebpf@v0.9.1" && rq.id == "RING-KEY" && strings.HasPrefix(topo, "sparse"):
						r.Status, r.Detail = result.Fail, "CPU 2: bpf_perf_event_output returned -EOPNOTSUPP"
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

// TestFindingsAreGrouped: results that differ only by where they were
// measured are one finding listing the places with one evidence line, MUST
// findings come first, an interrupted VM is one ERROR finding, and the
// summary names each loader's failing requirements.
func TestFindingsAreGrouped(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, bigRun(), report.Options{}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	findings := md[strings.Index(md, "## Findings"):]
	var entries []string
	for _, line := range strings.Split(findings, "\n") {
		if strings.HasPrefix(line, "- **") {
			entries = append(entries, line)
		}
	}
	want := []string{
		// MUST first; by loader and requirement
		"- **FAIL** `RING-KEY` (MUST) — cilium-ebpf@v0.9.1 — 4 results on debian-6.1, debian-6.12: sparse, sparse-high",
		"- **FAIL** `SIZE-KV-DEFAULT` (MUST) — libbpf@1.4 — 9 results on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high",
		// one interrupted VM: every loader and requirement in one finding,
		// at the strictest level it hides
		"- **ERROR** `COMPAT-RELOAD`, `RING-KEY`, `SIZE-AUTO`, `SIZE-KV-DEFAULT` (MUST) — cilium-ebpf@v0.9.1, libbpf@1.4, reference — 12 results on debian-6.12: gapped-possible",
		"- **FAIL** `COMPAT-RELOAD` (SHOULD) — cilium-ebpf@v0.9.1 — 9 results on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high",
		"- **FAIL** `COMPAT-RELOAD` (SHOULD) — libbpf@1.4 — 9 results on debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high",
	}
	if strings.Join(entries, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(entries, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{
		// the representative is the result with a CPU and errno
		"  - Evidence (debian-6.1 / sparse-high): CPU 5 · errno EOPNOTSUPP · possible 0-1, present 0-1, online 0-1 — CPU 5: bpf\\_perf\\_event\\_output returned -EOPNOTSUPP",
		"  - For cilium-ebpf@v0.9.1, libbpf@1.4, reference users: Not a verdict on cilium-ebpf@v0.9.1, libbpf@1.4, reference",
		// the summary: loader → failing requirements → where → evidence
		"| cilium-ebpf@v0.9.1 v1 | MUST RING-KEY | debian-6.1, debian-6.12: sparse, sparse-high | RING-KEY on debian-6.1 / sparse-high: CPU 5 · errno EOPNOTSUPP: CPU 5: bpf\\_perf\\_event\\_output returned -EOPNOTSUPP (the ring at this CPU's key belongs to another CPU) |",
		"|  | SHOULD COMPAT-RELOAD | debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high |",
		"|  | ERROR: 4 checks could not run (not a verdict) | debian-6.12: gapped-possible | see Findings |",
		"| libbpf@1.4 v1 | MUST SIZE-KV-DEFAULT | debian-6.1: every topology; debian-6.12: 1cpu, 4cpu, sparse, sparse-high | SIZE-KV-DEFAULT on debian-6.1 / 1cpu: map events: BPF\\_MAP\\_CREATE: EINVAL on 1cpu |",
		"| reference v1 | none | — | — |",
		// cells name what failed; a level whose every check errored says so
		"**FAIL (MUST)**<br>MUST: 1 FAIL (RING-KEY), 2 PASS<br>SHOULD: 1 FAIL (COMPAT-RELOAD)",
		"**ERROR**<br>MUST: 3 ERROR (all)<br>SHOULD: 1 ERROR (COMPAT-RELOAD)",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("report.md lacks %q", w)
		}
	}
	if i, j := strings.Index(md, "## Summary"), strings.Index(md, "## Matrix"); i < 0 || j < i {
		t.Error("the summary does not lead the report")
	}
}
