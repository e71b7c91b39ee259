package conform

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/perfconform/perfconform/internal/outdir"
)

// runOutputFiles are the files `conform run --out` writes beside the VM
// directories (report.WriteAll).
var runOutputFiles = []string{"results.json", "junit.xml", "report.md", "report.html"}

// vmLogFiles are what a VM's log directory holds (vmtest.WithOutDir).
var vmLogFiles = []string{"vm.json", "console.log", "events.jsonl"}

// openOut checks that dir can take a run's output before anything runs
// (internal/outdir): it must be new or empty (with force: hold nothing but
// an earlier run's output, which is then replaced, so the directory never
// mixes two runs), writable, which is tried by creating a file in it, and
// not in use by another run: it stays locked until Close. A missing dir is
// created. An empty path is no --out.
func openOut(dir string, force bool) (*outdir.Dir, error) {
	return outdir.Open(dir, outdir.Options{Force: force, Command: "conform run", Foreign: notRunOutput})
}

// notRunOutput is "" for a file report.WriteAll writes or a VM log
// directory (a first boot attempt's too) holding nothing but a VM's log
// files; otherwise the name of what is not run output.
func notRunOutput(dir string, e os.DirEntry) string {
	if !e.IsDir() {
		if e.Type().IsRegular() && slices.Contains(runOutputFiles, e.Name()) {
			return ""
		}
		return e.Name()
	}
	sub, err := os.ReadDir(filepath.Join(dir, e.Name()))
	if err != nil {
		return e.Name()
	}
	for _, f := range sub {
		if !f.Type().IsRegular() || !slices.Contains(vmLogFiles, f.Name()) {
			return filepath.Join(e.Name(), f.Name())
		}
	}
	return ""
}
