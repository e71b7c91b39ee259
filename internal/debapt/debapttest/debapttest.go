// Package debapttest hides the host's apt sources from tests, so that a
// test can show that what it fetches comes through package debapt's own
// configuration only, as on a host whose distribution has no Debian
// packages.
package debapttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// HiddenSources writes an apt configuration that lists no package source
// (with package lists and caches of its own, so nothing run with it can
// touch the host's), checks that apt then really knows no source, and
// returns its path for APT_CONFIG.
func HiddenSources(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, d := range []string{"empty", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "apt.conf")
	content := fmt.Sprintf("Dir::Etc::sourcelist %q;\nDir::Etc::sourceparts %q;\nDir::State::lists %q;\nDir::Cache %q;\n",
		filepath.Join(dir, "empty/sources.list"), filepath.Join(dir, "empty"), filepath.Join(dir, "lists"), filepath.Join(dir, "cache"))
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("apt-get", "indextargets", "--format", "$(SITE)")
	cmd.Env = append(os.Environ(), "APT_CONFIG="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		tb.Fatalf("the apt configuration %s still lists sources (%v): %s", conf, err, out)
	}
	return conf
}
