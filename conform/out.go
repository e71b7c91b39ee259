package conform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/internal/outdir"
	"github.com/perfconform/perfconform/report"
)

// runOutputFiles are the files `conform run --out` writes beside the VM
// directories (report.WriteAll).
var runOutputFiles = []string{"results.json", "junit.xml", "report.md", "report.html"}

// vmLogFiles are what a VM's log directory holds (vmtest.WithOutDir).
var vmLogFiles = []string{"vm.json", "console.log", "events.jsonl"}

// openOut checks that dir can take a run's output before anything runs
// (internal/outdir): it must be new or empty (with force: hold nothing but
// an earlier run's output, which is then replaced, so the directory never
// mixes two runs), writable, which is tried by creating a file in it, with
// need bytes free on its file system (outputNeed), and not in use by
// another run: it stays locked until Close. A missing dir is created. An
// empty path is no --out.
func openOut(dir string, force bool, need int64) (*outdir.Dir, error) {
	return outdir.Open(dir, outOptions(force, need))
}

// checkOut is openOut's check without creating, locking or writing
// anything (outdir.Check), for Plan.Validate.
func checkOut(dir string, force bool) error {
	return outdir.Check(dir, outOptions(force, 0))
}

func outOptions(force bool, need int64) outdir.Options {
	return outdir.Options{Force: force, Command: "conform run", Foreign: notRunOutput, Need: need}
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

// OutError is Run's error when the results could not all be written to
// --out (a full file system). The run's results are in Run's return value
// all the same; Saved, unless "", is where results.json went instead of
// Dir; Missing are the files Dir lacks.
type OutError struct {
	Dir     string
	Saved   string
	Missing []string
	Err     error
}

func (e *OutError) Error() string { return e.Err.Error() }
func (e *OutError) Unwrap() error { return e.Err }

// writeResults writes the run's reports into dir, results.json first. When
// dir cannot take them all the results are not lost: without results.json
// in dir, the reports go to a new temporary directory instead (as many as
// fit there), and the *OutError says where, which files dir lacks, and how
// to make the missing ones from results.json.
func writeResults(dir string, doc *report.Results, opts report.Options) error {
	err := report.WriteAll(dir, doc, opts)
	var we *report.WriteError
	if err == nil || !errors.As(err, &we) {
		return err
	}
	oe := &OutError{Dir: dir, Missing: we.Missing}
	if slices.Contains(we.Written, report.ResultsFile) {
		oe.Err = fmt.Errorf("%s/%s is written, but not %s (%w): make them with 'conform report merge %s --out NEWDIR'",
			dir, report.ResultsFile, strings.Join(we.Missing, ", "), we.Err, dir)
		return oe
	}
	saved, serr := os.MkdirTemp("", "conform-results-")
	if serr == nil {
		serr = report.WriteAll(saved, doc, opts)
		var swe *report.WriteError
		if errors.As(serr, &swe) && slices.Contains(swe.Written, report.ResultsFile) {
			serr = nil // the results are safe; the renderings can be made from them
		}
	}
	if serr != nil {
		oe.Err = fmt.Errorf("results not written to %s (%w) nor to a temporary directory (%v): only the lines printed above are left", dir, we.Err, serr)
		return oe
	}
	oe.Saved = saved
	oe.Err = fmt.Errorf("results not written to %s (%w); saved in %s instead", dir, we.Err, saved)
	return oe
}
