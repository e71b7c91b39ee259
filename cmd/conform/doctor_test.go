package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// TestDoctorCommand runs `conform doctor` on this machine, with the built-in
// results and with --results: it names the machine's classes and where the
// results came from.
func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	one := &report.Results{Results: []result.Result{{Requirement: "SIZE-KV-DEFAULT", Level: result.Must, Status: result.Fail,
		Loader: "libbpf@1.1", Kernel: "k", Topology: "t", Detail: "loading perf_auto failed at the load stage: EINVAL",
		Masks: &result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}}}}
	if err := report.WriteFile(filepath.Join(dir, "results.json"), one); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rootCmd.SetOut(nil); rootCmd.SetArgs(nil); doctorFlags.results = "" })
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"doctor"}, []string{"topology classes: ", "from the built-in reports/results.json ("}},
		{[]string{"doctor", "--results", dir}, []string{"from " + dir + " (1 loader version)",
			// a failure everywhere it ran applies to every machine, at the
			// suite's current level
			"libbpf@1.1: SHOULD: SIZE-KV-DEFAULT", "fails everywhere it ran"}},
	} {
		var out bytes.Buffer
		rootCmd.SetOut(&out)
		rootCmd.SetArgs(tc.args)
		if err := rootCmd.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out.String())
			}
		}
	}
}
