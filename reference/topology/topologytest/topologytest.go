// Package topologytest writes fake /sys/devices/system/cpu trees, so tests of
// topology logic can describe machines this one is not (gapped possible
// lists, hotplug slots, sparse online masks, broken files).
package topologytest

import (
	"os"
	"path/filepath"
	"testing"
)

// Masks are the contents of the three mask files, without the trailing
// newline sysfs adds (Write adds it). Missing leaves a file out.
type Masks struct {
	Possible, Present, Online string
}

// Missing, as a field of Masks, leaves that file out of the tree.
const Missing = "\x00missing"

// Write writes the mask files into dir.
func Write(dir string, m Masks) error {
	for name, content := range map[string]string{"possible": m.Possible, "present": m.Present, "online": m.Online} {
		if content == Missing {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Sysfs writes the mask files into a new temporary directory and returns it.
func Sysfs(tb testing.TB, m Masks) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := Write(dir, m); err != nil {
		tb.Fatal(err)
	}
	return dir
}
