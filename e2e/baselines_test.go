package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBaselinesAreCheckedAgainstNames: a --baseline naming a requirement,
// topology or kernel that does not exist loads with one warning line per
// unknown name, and is refused with --strict (exit 2 before any work); one
// naming only real things loads silently either way. report gate reads
// the baselines before its results directory, so a missing directory keeps
// the test to the baseline check. (The names themselves are
// report.LoadCheckedBaselines' business, tested in report.)
func TestBaselinesAreCheckedAgainstNames(t *testing.T) {
	for _, tc := range []struct {
		name     string
		baseline string
		warnings []string // substrings, one per warning line
	}{
		{"real names", `{"schema": 1, "loader": "aya", "deviations": [
			{"requirement": "RING-KEY", "reason": "aya#1", "topology": "sparse", "kernel": "debian-6.1"},
			{"requirement": "SIZE-AUTO", "reason": "aya#2", "topology": "host", "kernel": "/boot/vmlinuz-6.18"}]}`, nil},
		{"stale names", `{"schema": 1, "loader": "aya", "deviations": [
			{"requirement": "RING-002", "reason": "aya#1", "topology": "hotplug-8"},
			{"requirement": "SIZE-AUTO", "reason": "aya#2", "kernel": "debian-4.19"}]}`,
			[]string{`deviations[0] (RING-002) names something that does not exist: requirement "RING-002"`,
				`deviations[0] (RING-002) names something that does not exist: topology "hotplug-8"`,
				`deviations[1] (SIZE-AUTO) names something that does not exist: kernel "debian-4.19"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "baseline.json")
			if err := os.WriteFile(path, []byte(tc.baseline), 0o644); err != nil {
				t.Fatal(err)
			}
			missing := filepath.Join(dir, "no-results")
			r := runConform(t, dir, time.Minute, nil, "report", "gate", missing, "--baseline", path)
			var warnings []string
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.HasPrefix(l, "warning: ") {
					warnings = append(warnings, l)
				}
			}
			if !strings.Contains(r.stderr, "no-results") {
				t.Errorf("without --strict the baseline did not load (stderr %q); want the gate to go on to the results directory", r.stderr)
			}
			if len(warnings) != len(tc.warnings) {
				t.Errorf("warnings %q, want %d lines", warnings, len(tc.warnings))
			} else {
				for i, w := range tc.warnings {
					if !strings.HasPrefix(warnings[i], "warning: baseline "+path) || !strings.Contains(warnings[i], w) || !strings.HasSuffix(warnings[i], "(--strict refuses this)") {
						t.Errorf("warning %d = %q, want one naming %s with %q", i, warnings[i], path, w)
					}
				}
			}

			r = runConform(t, dir, time.Minute, nil, "report", "gate", missing, "--baseline", path, "--strict")
			switch {
			case len(tc.warnings) == 0 && strings.Contains(r.stderr, "--strict"):
				t.Errorf("--strict refused a baseline of real names: %q", r.stderr)
			case len(tc.warnings) > 0 && (r.exit != 2 || !strings.Contains(r.stderr, "--strict: ") || strings.Contains(r.stderr, "no-results")):
				t.Errorf("--strict: exit %d, stderr %q; want exit 2 refusing the baseline before reading results", r.exit, r.stderr)
			case len(tc.warnings) > 0:
				for _, w := range tc.warnings {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("--strict error %q lacks %q", r.stderr, w)
					}
				}
			}
		})
	}
}
