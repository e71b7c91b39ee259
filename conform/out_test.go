package conform

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// fullFS mounts a tmpfs of size bytes for the test and fills it until
// only free bytes are left (root only).
func fullFS(t *testing.T, size, free int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, max(avail-free, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sampleResults() *report.Results {
	doc := &report.Results{Generated: time.Unix(86400, 0).UTC(), Runs: []report.Run{{Kernel: report.Kernel{Name: "host"}, Topology: "host", Realized: true}}}
	for _, req := range []string{"SIZE-AUTO", "SIZE-KV-DEFAULT", "RING-KEY"} {
		doc.Results = append(doc.Results, result.Result{Requirement: req, Level: result.Must, Status: result.Pass,
			Loader: "reference", Kernel: "host", Topology: "host", Detail: strings.Repeat("evidence ", 20)})
	}
	return doc
}

// TestResultsSurviveAFullDisk (issue 24 item 9): when --out fills up after
// the run, the results are not lost: results.json goes to a temporary
// directory that the error names, and a partial write says which files
// made it and which did not.
func TestResultsSurviveAFullDisk(t *testing.T) {
	doc := sampleResults()
	t.Run("nothing fits", func(t *testing.T) {
		dir := fullFS(t, 1<<20, 0)
		err := writeResults(dir, doc, report.Options{})
		var oe *OutError
		if !errors.As(err, &oe) || oe.Saved == "" {
			t.Fatalf("writeResults on a full disk = %v, want an *OutError naming where the results went", err)
		}
		defer os.RemoveAll(oe.Saved)
		if !strings.Contains(err.Error(), oe.Saved) || !strings.Contains(err.Error(), "no space left") {
			t.Errorf("error %q does not say where the results went and why", err)
		}
		saved, rerr := report.ReadDir(oe.Saved)
		if rerr != nil || len(saved.Results) != len(doc.Results) {
			t.Errorf("results saved in %s: %v", oe.Saved, rerr)
		}
	})
	t.Run("only results.json fits", func(t *testing.T) {
		probe := t.TempDir()
		if err := report.WriteAll(probe, doc, report.Options{}); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(filepath.Join(probe, report.ResultsFile))
		pages := (st.Size() + 4095) / 4096
		dir := fullFS(t, 1<<20, pages*4096)
		err := writeResults(dir, doc, report.Options{})
		var oe *OutError
		if !errors.As(err, &oe) {
			t.Fatalf("writeResults with room for results.json only = %v, want an *OutError", err)
		}
		if oe.Saved != "" {
			os.RemoveAll(oe.Saved)
			t.Errorf("results.json was written to --out, yet saved elsewhere too (%s)", oe.Saved)
		}
		if _, rerr := report.ReadDir(dir); rerr != nil {
			t.Errorf("results.json not in --out: %v", rerr)
		}
		if !strings.Contains(err.Error(), "report.html") || !strings.Contains(err.Error(), "report merge") {
			t.Errorf("error %q does not name the missing files and how to make them", err)
		}
	})
}
