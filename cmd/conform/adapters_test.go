package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestAdaptersTableKeepsReasonsOutOfColumns: `conform adapters` puts every
// reason a loader cannot run under the table as a numbered note, so the
// columns stay readable however long the reason.
func TestAdaptersTableKeepsReasonsOutOfColumns(t *testing.T) {
	var out bytes.Buffer
	if err := runAdapters(context.Background(), &out, false, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "\tno: ") || strings.Contains(text, " no: ") {
		t.Errorf("a reason is inside the table:\n%s", text)
	}
	for _, m := range regexp.MustCompile(`no \[(\d+)\]`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(text, "\n["+m[1]+"] ") {
			t.Errorf("cell %q has no note [%s]:\n%s", m[0], m[1], text)
		}
	}
}
