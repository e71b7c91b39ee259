package conform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// outDir is a run's output directory (Plan.OutDir, --out), checked before any work.
type outDir struct {
	path string
	// created is the outermost directory openOut created, removed again by
	// abandon when the run never started.
	created string
	// previous lists an earlier run's output that --force replaces.
	previous []string
}

// runOutputFiles are the files `conform run --out` writes beside the VM
// directories (report.WriteAll).
var runOutputFiles = []string{"results.json", "junit.xml", "report.md", "report.html"}

// vmLogFiles mark a VM's log directory (vmtest.WithOutDir).
var vmLogFiles = []string{"vm.json", "console.log", "events.jsonl"}

// openOut checks that dir can take a run's output before anything runs: it
// must be new or empty (with force: hold nothing but an earlier run's
// output, which is then replaced, so the directory never mixes two runs),
// and writable, which is tried by creating a file in it. A missing dir is
// created. An empty path is no --out.
func openOut(dir string, force bool) (*outDir, error) {
	o := &outDir{path: dir}
	if dir == "" {
		return o, nil
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if o.created, err = firstMissing(dir); err != nil {
			return nil, fmt.Errorf("--out %s: %w", dir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--out %s: %w", dir, err)
		}
	case err != nil:
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	case len(entries) > 0 && !force:
		return nil, fmt.Errorf("--out %s is not empty (%s): give a new directory, or --force to replace an earlier run's output there", dir, listNames(entries))
	case len(entries) > 0:
		for _, e := range entries {
			if !isRunOutput(dir, e) {
				return nil, fmt.Errorf("--out %s: %s is not output of conform run; --force only replaces an earlier run's output, so give a new directory", dir, e.Name())
			}
			o.previous = append(o.previous, filepath.Join(dir, e.Name()))
		}
	}
	probe, err := os.CreateTemp(dir, ".conform-write-check-")
	if err != nil {
		o.abandon()
		return nil, fmt.Errorf("--out %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return o, nil
}

// clearPrevious removes the earlier run's output --force allowed, right
// before the new run starts.
func (o *outDir) clearPrevious() error {
	for _, p := range o.previous {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("--out %s: replace the earlier run's output: %w", o.path, err)
		}
	}
	o.previous = nil
	return nil
}

// abandon removes what openOut created, if the run left it empty.
func (o *outDir) abandon() {
	if o.created == "" {
		return
	}
	dir, err := filepath.Abs(o.path)
	if err != nil {
		return
	}
	// Remove the created directories from the inside out while empty.
	for ; ; dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil || dir == o.created {
			return
		}
	}
}

// firstMissing is the outermost directory of path that does not exist yet.
func firstMissing(path string) (string, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	missing := path
	for dir := filepath.Dir(path); dir != missing; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		missing = dir
	}
	return missing, nil
}

// isRunOutput is true for a file report.WriteAll writes, a VM log
// directory (a first boot attempt's too) or an empty directory.
func isRunOutput(dir string, e os.DirEntry) bool {
	if !e.IsDir() {
		return slices.Contains(runOutputFiles, e.Name())
	}
	if sub, err := os.ReadDir(filepath.Join(dir, e.Name())); err == nil && len(sub) == 0 {
		return true
	}
	for _, f := range vmLogFiles {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), f)); err == nil {
			return true
		}
	}
	return false
}

func listNames(entries []os.DirEntry) string {
	var names []string
	for i, e := range entries {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-i))
			break
		}
		names = append(names, e.Name())
	}
	return strings.Join(names, ", ")
}
