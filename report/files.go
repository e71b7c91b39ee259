package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perfconform/perfconform/internal/outdir"
)

// WriteError is WriteAll's error when a file could not be written (a full
// file system): the files before it were, in WriteAll's order, which puts
// results.json first.
type WriteError struct {
	Dir     string
	Written []string // file names written whole
	Missing []string // file names not written, the failed one first
	Err     error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// WriteAll writes results.json, junit.xml, report.md and report.html into
// dir, creating it if needed, results.json first. Each file is written
// whole or not at all; a failed write is a *WriteError saying which were.
func WriteAll(dir string, r *Results, opts Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{ResultsFile, func(w io.Writer) error { return Write(w, r) }},
		{JUnitFile, func(w io.Writer) error { return WriteJUnit(w, r, opts) }},
		{MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, r, opts) }},
		{HTMLFile, func(w io.Writer) error { return WriteHTML(w, r, opts) }},
	}
	for i, f := range files {
		var buf bytes.Buffer
		path := filepath.Join(dir, f.name)
		if err := f.write(&buf); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			we := &WriteError{Dir: dir, Err: err}
			for j, g := range files {
				if j < i {
					we.Written = append(we.Written, g.name)
				} else {
					we.Missing = append(we.Missing, g.name)
				}
			}
			return we
		}
	}
	return nil
}

// MergeInto merges the results of dirs (MergeDirs) and writes every report
// of them into out (WriteAll), as `conform report merge` does. out is
// treated as `conform run --out` treats its directory (internal/outdir):
// new or empty, or with force holding nothing but an earlier report's four
// files, which are replaced; never one of dirs nor a directory holding one;
// locked while it is written.
// impactsFile, unless "", is a LoadImpacts file whose lines replace those
// of opts.Impacts for the same requirements (opts.Impacts itself is not
// changed). epoch, unless "", is SOURCE_DATE_EPOCH: the seconds since 1970
// that fix the merged results' Generated time, which is otherwise the
// latest input's. With opts.Impacts given (the suite's line for every
// requirement), the impacts file may name only its requirements: another
// ID is a typo whose line would never show. Nothing is written when an
// input, the impacts file or the epoch is bad.
func MergeInto(out string, force bool, opts Options, impactsFile, epoch string, dirs ...string) (*Results, []Conflict, error) {
	if impactsFile != "" {
		m, err := LoadImpacts(impactsFile)
		if err != nil {
			return nil, nil, err
		}
		if opts.Impacts != nil {
			for _, id := range slices.Sorted(maps.Keys(m)) {
				if _, ok := opts.Impacts[id]; !ok {
					return nil, nil, fmt.Errorf("impacts %s: %q is not a requirement (known: %s): its line would never show", impactsFile, id, strings.Join(slices.Sorted(maps.Keys(opts.Impacts)), ", "))
				}
			}
		}
		opts.Impacts = maps.Clone(opts.Impacts)
		if opts.Impacts == nil {
			opts.Impacts = map[string]string{}
		}
		maps.Copy(opts.Impacts, m)
	}
	merged, conflicts, err := MergeDirs(dirs...)
	if err != nil {
		return nil, nil, err
	}
	if epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", epoch, err)
		}
		merged.Generated = time.Unix(sec, 0).UTC()
	}
	d, err := outdir.Open(out, outdir.Options{Force: force, Command: "conform report merge", Inputs: dirs, Foreign: notReportFile})
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	if err := d.ClearPrevious(); err != nil {
		return nil, nil, err
	}
	if err := WriteAll(out, merged, opts); err != nil {
		return nil, nil, err
	}
	return merged, conflicts, nil
}

// notReportFile is "" for one of the four files WriteAll writes, otherwise
// the entry's name (outdir.Options.Foreign).
func notReportFile(_ string, e fs.DirEntry) string {
	if e.Type().IsRegular() && slices.Contains([]string{ResultsFile, JUnitFile, MarkdownFile, HTMLFile}, e.Name()) {
		return ""
	}
	return e.Name()
}

// LoadImpacts reads a JSON object mapping requirement IDs to one line on what
// a FAIL means for a loader's users, for Options.Impacts.
func LoadImpacts(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("impacts: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("impacts %s: want a JSON object of requirement ID to text: %w", path, err)
	}
	if err := checkDuplicateKeys(data, false); err != nil {
		return nil, fmt.Errorf("impacts %s: %w", path, err)
	}
	return m, nil
}
