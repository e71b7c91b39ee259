package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
)

// TestLoadBaselinesChecksNames: a baseline naming a requirement, topology or
// kernel that does not exist loads with a warning, and is refused with
// --strict; one naming only real things loads silently either way.
func TestLoadBaselinesChecksNames(t *testing.T) {
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
			path := filepath.Join(t.TempDir(), "baseline.json")
			if err := os.WriteFile(path, []byte(tc.baseline), 0o644); err != nil {
				t.Fatal(err)
			}
			var warn bytes.Buffer
			bs, err := loadBaselines(&warn, []string{path}, false)
			if err != nil || len(bs["aya"].Deviations) != 2 {
				t.Fatalf("without --strict: %v, %v; want the baseline loaded", bs, err)
			}
			lines := strings.Split(strings.TrimSpace(warn.String()), "\n")
			if len(tc.warnings) == 0 {
				if warn.Len() != 0 {
					t.Errorf("warnings for a baseline of real names:\n%s", warn.String())
				}
			} else if len(lines) != len(tc.warnings) {
				t.Errorf("warnings:\n%s\nwant %d lines", warn.String(), len(tc.warnings))
			} else {
				for i, w := range tc.warnings {
					if !strings.HasPrefix(lines[i], "warning: baseline "+path) || !strings.Contains(lines[i], w) {
						t.Errorf("warning %d = %q, want one naming %s with %q", i, lines[i], path, w)
					}
				}
			}

			warn.Reset()
			bs, err = loadBaselines(&warn, []string{path}, true)
			switch {
			case len(tc.warnings) == 0 && err != nil:
				t.Errorf("--strict refused a baseline of real names: %v", err)
			case len(tc.warnings) > 0 && (!errors.Is(err, report.ErrUnknownName) || bs != nil):
				t.Errorf("--strict: %v, %v; want ErrUnknownName and no baselines", bs, err)
			case len(tc.warnings) > 0:
				for _, w := range tc.warnings {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("--strict error %q lacks %q", err, w)
					}
				}
			}
		})
	}
}
