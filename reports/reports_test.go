package reports_test

import (
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/reports"
	"github.com/perfconform/perfconform/result"
)

// TestUpstreamEntriesMatchResults: every finding upstream.json maps is
// matched by at least one FAIL of the committed results, so an entry cannot
// outlive its finding (or hide behind a typo in its pattern).
func TestUpstreamEntriesMatchResults(t *testing.T) {
	r, err := reports.Results()
	if err != nil {
		t.Fatal(err)
	}
	u, err := reports.Upstream()
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Entries) == 0 {
		t.Fatal("upstream.json maps no finding")
	}
	for _, e := range u.Unmatched(r) {
		t.Errorf("upstream.json entry %s %v /%s/ (%s) matches no FAIL in results.json", e.Loader, e.Requirements, e.Evidence, e.Refs[0].Ref)
	}
}

// TestUnmatchedCanFail: the check above would see an entry whose finding is
// gone.
func TestUnmatchedCanFail(t *testing.T) {
	u, err := report.ParseUpstream([]byte(`{"schema": 1, "entries": [
		{"loader": "cilium-ebpf", "requirements": ["RING-KEY"], "evidence": "EOPNOTSUPP", "upstream": [{"ref": "cilium/ebpf#2100", "state": "open"}]},
		{"loader": "libbpf", "requirements": ["RING-KEY"], "evidence": "EOPNOTSUPP", "upstream": [{"ref": "libbpf/libbpf#1", "state": "open"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &report.Results{Results: []result.Result{{Requirement: "RING-KEY", Level: result.Must, Status: result.Fail,
		Loader: "cilium-ebpf@v0.22.0", Detail: "CPU 2: bpf_perf_event_output returned -EOPNOTSUPP"}}}
	if got := u.Unmatched(r); len(got) != 1 || got[0].Loader != "libbpf" {
		t.Errorf("Unmatched = %+v, want the libbpf entry alone", got)
	}
}
