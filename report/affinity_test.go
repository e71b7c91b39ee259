package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// A loader restricted to some CPUs (the cpuset topology) carries them in
// its masks: the report's evidence names them, and the classifier sees them,
// so the cause bites on "affinity < online" and not on the masks alone.
func TestLoaderAffinityInReport(t *testing.T) {
	all := result.Masks{Possible: "0-3", Present: "0-3", Online: "0-3"}
	restricted := all
	restricted.Affinity = "0-1"
	cpu := 2
	r := &report.Results{Generated: testTime, Runs: []report.Run{
		{Kernel: report.Kernel{Name: "k"}, Topology: "cpuset", Requested: &restricted, Masks: &restricted, Realized: true},
		{Kernel: report.Kernel{Name: "k"}, Topology: "4cpu", Requested: &all, Masks: &all, Realized: true},
	}, Results: []result.Result{
		{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Fail, Loader: "aff", Kernel: "k", Topology: "cpuset",
			Detail: "max_entries is 2, want 4 = highest possible CPU 3 + 1; CPU 2: bpf_perf_event_output returned -E2BIG",
			CPU:    &cpu, Errno: "E2BIG", Masks: &restricted},
		{Requirement: "SIZE-AUTO", Level: result.Must, Status: result.Pass, Loader: "aff", Kernel: "k", Topology: "4cpu",
			Detail: "max_entries 4", Masks: &all},
	}}
	classify := func(m result.Masks) []string {
		out := []string{"2+ online CPUs"}
		if m.Affinity != "" {
			out = append([]string{"affinity < online"}, out...)
		}
		return out
	}
	opts := report.Options{Classify: classify}
	var md bytes.Buffer
	if err := report.WriteMarkdown(&md, r, opts); err != nil {
		t.Fatal(err)
	}
	// The runs table names the restriction the VM realized; the cause
	// bites on its class (markdown escapes "<").
	for _, want := range []string{"online 0-3, loader affinity 0-1", `bites: affinity \< online`} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md.String())
		}
	}
	causes := report.Causes(r, opts)
	if len(causes) != 1 || causes[0].Everywhere || strings.Join(causes[0].Classes, ",") != "affinity < online" {
		t.Errorf("causes %+v, want one that bites on affinity < online", causes)
	}
}
