package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// classify is a small stand-in for topology.ClassesOfLists: enough classes
// to tell the synthetic places apart.
func classify(m result.Masks) []string {
	var out []string
	if strings.Contains(m.Online, ",") {
		out = append(out, "sparse online")
	}
	if m.Possible != m.Online {
		out = append(out, "possible > online")
	}
	if m.Online != "0" {
		out = append(out, "2+ online CPUs")
	}
	return out
}

// history is one loader at three releases (given out of order, and with
// v0.9.1 after v0.22.0 as strings sort) on three places: a keyed-ring bug
// that appears in v0.16.0 on the sparse topology only, a failure
// everywhere that carries its size, and a level that changed since the
// results were judged.
func history() *report.Results {
	places := []struct {
		topo  string
		masks result.Masks
	}{
		{"dense", result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}},
		{"hotplug", result.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}},
		{"sparse", result.Masks{Possible: "0-3", Present: "0-3", Online: "0,2-3"}},
	}
	out := &report.Results{Generated: testTime}
	for _, l := range []string{"ebpf@v0.22.0", "ebpf@v0.9.1", "ebpf@v0.16.0"} {
		for _, p := range places {
			m := p.masks
			add := func(req string, level result.Level, status result.Status, detail string) {
				out.Results = append(out.Results, result.Result{Requirement: req, Level: level, Status: status, Detail: detail,
					Loader: l, LoaderVersion: strings.TrimPrefix(l, "ebpf@"), Kernel: "k", Topology: p.topo, Masks: &m})
			}
			if p.topo == "sparse" && l != "ebpf@v0.9.1" {
				add("RING-KEY", result.Must, result.Fail, "CPU 2: bpf_perf_event_output returned -EOPNOTSUPP (the ring at this CPU's key belongs to another CPU)")
				add("RING-DELIVER", result.Must, result.Fail, "map events (max_entries 4): CPU 2: bpf_perf_event_output returned -EOPNOTSUPP (the ring at this CPU's key belongs to another CPU)")
			} else {
				add("RING-KEY", result.Must, result.Pass, "")
				add("RING-DELIVER", result.Must, result.Pass, "")
			}
			add("KV", result.Must, result.Fail, "loading perf_auto failed at the load stage: /tmp/perfconform-suite-1/fixtures/perf_auto.o: map events: key size 0 (max_entries "+m.Possible+")")
			add("INFO-X", result.Info, result.Pass, "kept")
		}
	}
	return out
}

func TestCompatibilityTable(t *testing.T) {
	up, err := report.ParseUpstream([]byte(`{"schema": 1, "entries": [
		{"loader": "ebpf", "requirements": ["RING-KEY"], "evidence": "EOPNOTSUPP", "upstream": [{"ref": "o/ebpf#1", "kind": "issue", "state": "open", "date": "2026-12-06"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	opts := report.Options{Classify: classify, Upstream: up, Levels: map[string]result.Level{"KV": result.Should}}
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, history(), opts); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		// current levels, and the header says what changed
		"these results were judged at another level: KV: MUST → SHOULD (9 results).",
		// columns in release order, rows by level
		"| requirement | ebpf@v0.9.1 | ebpf@v0.16.0 | ebpf@v0.22.0 |\n|---|---|---|---|\n| **MUST** | | | |\n" +
			"| RING-DELIVER | ✓ | ✗ sparse online | ✗ sparse online |\n" +
			"| RING-KEY | ✓ | ✗ sparse online | ✗ sparse online |\n" +
			"| **SHOULD** | | | |\n| KV | ✗ everywhere | ✗ everywhere | ✗ everywhere |\n" +
			"| **INFO** | | | |\n| INFO-X | ✓ | ✓ | ✓ |\n",
		// since/until where the outcome changes
		"- `RING-KEY` (MUST) ebpf: ✓ until v0.9.1; ✗ sparse online since v0.16.0 (compared where every version ran: k: dense, hotplug, sparse)",
		// one cause for both requirements and both versions, with its
		// upstream report; the KV failures (sizes differ) are one cause
		"| ebpf v0.9.1, v0.16.0, v0.22.0 | [C1](#c1) | MUST: RING-DELIVER, RING-KEY | ebpf@v0.16.0…v0.22.0 (2 versions) | sparse online | o/ebpf#1 (issue, open, 2026-12-06) |",
		"|  | [C2](#c2) | SHOULD: KV | ebpf@v0.9.1…v0.22.0 (3 versions) | every topology | upstream status not recorded |",
		"**C2** ebpf@v0.9.1…v0.22.0 (3 versions) — SHOULD: KV (9 results) — bites: every topology — seen on k: every topology\n- Stage: load\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	if strings.Count(md, "<a id=\"c") != 2 {
		t.Errorf("want 2 root causes:\n%s", md)
	}
	// Without levels the results' own levels stand.
	buf.Reset()
	if err := report.WriteMarkdown(&buf, history(), report.Options{Classify: classify}); err != nil {
		t.Fatal(err)
	}
	if md := buf.String(); strings.Contains(md, "judged at another level") || !strings.Contains(md, "MUST: KV") {
		t.Error("without Options.Levels the report changed levels")
	}
}

func TestUpstreamRefText(t *testing.T) {
	for _, tc := range []struct {
		ref  report.UpstreamRef
		want string
	}{
		{report.UpstreamRef{Ref: "cilium/ebpf#2100", Kind: "issue", State: "open", Date: "2026-12-06", Note: "rings by position"}, "cilium/ebpf#2100 (issue, open, 2026-12-06): rings by position"},
		{report.UpstreamRef{State: report.StateNotReported, Date: "2026-12-06"}, "not reported upstream (checked 2026-12-06)"},
		{report.UpstreamRef{Ref: "cilium/ebpf#968", State: "not recorded"}, "cilium/ebpf#968 (not recorded)"},
	} {
		if got := tc.ref.Text(); got != tc.want {
			t.Errorf("Text() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseUpstreamRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"schema":        `{"schema": 2, "entries": []}`,
		"unknown field": `{"schema": 1, "entries": [], "extra": 1}`,
		"no evidence":   `{"schema": 1, "entries": [{"loader": "x", "requirements": ["R"], "upstream": [{"ref": "a#1", "state": "open"}]}]}`,
		"bad pattern":   `{"schema": 1, "entries": [{"loader": "x", "requirements": ["R"], "evidence": "(", "upstream": [{"ref": "a#1", "state": "open"}]}]}`,
		"no state":      `{"schema": 1, "entries": [{"loader": "x", "requirements": ["R"], "evidence": "e", "upstream": [{"ref": "a#1"}]}]}`,
	} {
		if _, err := report.ParseUpstream([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestCompatCellIsItsRequirements: a cell says where its own requirement
// failed, not everywhere its root cause bites. One cause (a reader that
// fails storing a CPU's fd with E2BIG) takes down RING-EXPLICIT-SMALL on
// every place with 2+ online CPUs and RING-CREATE only where the possible
// list has a gap; RING-CREATE's cell must not claim the dense places.
func TestCompatCellIsItsRequirements(t *testing.T) {
	places := []struct {
		topo  string
		masks result.Masks
	}{
		{"dense", result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}},
		{"gapped", result.Masks{Possible: "0-1,4-5", Present: "0-5", Online: "0-1,4-5"}},
	}
	doc := &report.Results{Generated: testTime}
	for _, p := range places {
		m := p.masks
		add := func(req string, status result.Status, detail string) {
			doc.Results = append(doc.Results, result.Result{Requirement: req, Level: result.Must, Status: status, Detail: detail,
				Loader: "aya", LoaderVersion: "1", Kernel: "k", Topology: p.topo, Masks: &m})
		}
		add("RING-EXPLICIT-SMALL", result.Fail, "reader stage: perf buffer of map events for CPU 1: Argument list too long (os error 7)")
		if p.topo == "gapped" {
			add("RING-CREATE", result.Fail, "reader stage: perf buffer of map events for CPU 4: Argument list too long (os error 7)")
		} else {
			add("RING-CREATE", result.Pass, "")
		}
	}
	var buf bytes.Buffer
	if err := report.WriteMarkdown(&buf, doc, report.Options{Classify: classify}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"| RING-CREATE | ✗ sparse online |", "| RING-EXPLICIT-SMALL | ✗ everywhere |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	// The same words, failing in different places: two causes, so a
	// machine of either kind is told of its own (conform doctor).
	if n := strings.Count(md, "<a id=\"c"); n != 2 {
		t.Errorf("%d root causes, want 2 (one bites where the possible list has a gap, one everywhere):\n%s", n, md)
	}
}
