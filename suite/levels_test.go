package suite_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/suite"
)

// TestLevelsJustifiedInSpec: every requirement's section in docs/SPEC.md
// opens with its current level and the sentence on what breaks for users if
// a loader fails it (Requirement.LevelWhy), so the level a report shows is
// the one the spec argues for.
func TestLevelsJustifiedInSpec(t *testing.T) {
	data, err := os.ReadFile("../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	fold := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, r := range suite.Requirements {
		if strings.TrimSpace(r.LevelWhy) == "" {
			t.Errorf("%s: no LevelWhy", r.ID)
			continue
		}
		m := regexp.MustCompile(`(?s)### ` + regexp.QuoteMeta(r.ID) + `\n(.*?)\n\n`).FindStringSubmatch(doc)
		if m == nil {
			t.Errorf("docs/SPEC.md: no section for %s", r.ID)
			continue
		}
		if want := "*Level:* " + string(r.Level) + " — " + fold(r.LevelWhy); fold(m[1]) != want {
			t.Errorf("docs/SPEC.md, %s: first paragraph\n%q\nwant\n%q", r.ID, fold(m[1]), want)
		}
	}
}

func TestLevelsCoverEveryRequirement(t *testing.T) {
	levels := suite.Levels()
	if len(levels) != len(suite.Requirements) {
		t.Fatalf("Levels has %d entries for %d requirements", len(levels), len(suite.Requirements))
	}
	for _, r := range suite.Requirements {
		if levels[r.ID] != r.Level {
			t.Errorf("Levels()[%s] = %s, want %s", r.ID, levels[r.ID], r.Level)
		}
	}
}
