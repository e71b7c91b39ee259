// Package report turns conformance results into what users read and what CI
// gates on: the versioned results.json document, junit.xml, the report.md
// compatibility matrix with its findings, and a self-contained report.html.
// It also merges results from several jobs or machines (Merge) and decides
// whether a set of results should fail a build (Gate, with per-loader
// baselines of known deviations).
//
// The reports open with a compatibility table (requirement × loader version,
// failures named by topology classes) and list failures by root cause
// (Causes), each with what upstream knows (Upstream).
//
// The package knows no requirement IDs: what a failure means for users, each
// requirement's current level and the topology classes of a set of masks
// come from the caller (Options.Impacts, Options.Levels, Options.Classify),
// so the suite stays the one place that defines requirements.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/result"
)

// SchemaVersion is the results.json schema this package writes and reads.
// Fields may be added to schema 1 (readers ignore fields they do not know);
// renaming, removing or changing the meaning of a field bumps it.
const SchemaVersion = 1

// File names inside a report directory, as written by WriteAll.
const (
	ResultsFile  = "results.json"
	JUnitFile    = "junit.xml"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
)

var (
	// ErrSchema: a results document has a schema version this build does
	// not read.
	ErrSchema = errors.New("unsupported results schema")
	// ErrInvalid: a results document is malformed (bad JSON, a result
	// without requirement or loader, an unknown status or level).
	ErrInvalid = errors.New("invalid results")
)

// Results is the results.json document: every outcome of one or more runs,
// with what is known about each run.
type Results struct {
	// Schema is SchemaVersion; Write sets it.
	Schema int `json:"schema"`
	// Generated is when the results were produced (for a merge: the latest
	// of its inputs).
	Generated time.Time `json:"generated"`
	// Runs describes each VM boot (or host run) that produced results.
	Runs []Run `json:"runs"`
	// Results holds one entry per (kernel, topology, loader, requirement).
	Results []result.Result `json:"results"`
	// Conflicts lists cells for which merged inputs disagreed on the
	// status. The worst status is the one kept in Results.
	Conflicts []Conflict `json:"conflicts,omitempty"`
}

// Run is one VM boot, or one run on the host, for one kernel and topology.
type Run struct {
	Kernel   Kernel `json:"kernel"`
	Topology string `json:"topology"`
	// Host names the machine or CI job that ran it (free form).
	Host string `json:"host,omitempty"`
	// Requested are the masks the topology asks for; Masks are those the
	// guest kernel reported. Realized says whether they agree; results from
	// a topology that was not realized do not describe that topology.
	Requested *result.Masks `json:"requested,omitempty"`
	Masks     *result.Masks `json:"masks,omitempty"`
	Realized  bool          `json:"realized"`
	// Accelerator is "kvm", "tcg" or "host".
	Accelerator string    `json:"accelerator,omitempty"`
	Loaders     []Loader  `json:"loaders,omitempty"`
	Started     time.Time `json:"started"`
	// Boot is the time from starting QEMU to the guest's first event;
	// Duration is the whole run.
	Boot     time.Duration `json:"boot_ns,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// Error says why the run did not complete (no results, or only some);
	// ConsoleTail holds the last lines of the guest console as evidence.
	Error string `json:"error,omitempty"`
	// NotRealizable says why the topology was not booted on this kernel
	// because the catalog declares the kernel cannot produce it (e.g. QEMU
	// hotplug slots on 6.12). Such a run has no results and is not an error:
	// it neither passes nor gates. A topology that was expected to work but
	// whose masks came out different is an Error instead.
	NotRealizable string `json:"not_realizable,omitempty"`
	// Synthetic marks a topology the guest fakes (e.g. a possible-CPU list
	// bind-mounted over sysfs) rather than one the kernel produced.
	Synthetic bool `json:"synthetic,omitempty"`
	// Retried holds the error of a first attempt that died before the guest
	// booted (an emulator or kernel flake, not a result); the run's outcome
	// is the second attempt's.
	Retried     string   `json:"retried,omitempty"`
	ConsoleTail []string `json:"console_tail,omitempty"`
}

// Kernel names a kernel: Name is the catalog name results refer to
// (result.Result.Kernel, e.g. "debian-6.1"; for a kernel given as an image
// path, its release), Version its uname -r, Arch the architecture of the
// machine it ran (amd64, arm64), Path the image of a kernel given by path.
type Kernel struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
	Path    string `json:"path,omitempty"`
}

// Loader is a loader that took part in a run, as its adapter reported it.
type Loader struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Write writes r as indented JSON in canonical order (runs by kernel,
// topology, host and start; results by kernel, topology, loader and
// requirement), so that equal results give byte-identical files. r is not
// modified.
func Write(w io.Writer, r *Results) error {
	c := canonical(r)
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// WriteFile writes r to path (see Write).
func WriteFile(path string, r *Results) error {
	var buf bytes.Buffer
	if err := Write(&buf, r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// Read reads and checks a results document.
func Read(rd io.Reader) (*Results, error) {
	var r Results
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("%w: schema %d, this build reads schema %d", ErrSchema, r.Schema, SchemaVersion)
	}
	for i, res := range r.Results {
		if err := checkResult(res); err != nil {
			return nil, fmt.Errorf("%w: results[%d]: %v", ErrInvalid, i, err)
		}
	}
	for i, c := range r.Conflicts {
		for j, res := range c.Outcomes {
			if err := checkResult(res); err != nil {
				return nil, fmt.Errorf("%w: conflicts[%d].outcomes[%d]: %v", ErrInvalid, i, j, err)
			}
		}
	}
	return &r, nil
}

// ReadFile reads a results document from path; errors name the file.
func ReadFile(path string) (*Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ReadDir reads DIR/results.json, the results of a `conform run --out DIR`.
// A path to a .json file is read as is.
func ReadDir(path string) (*Results, error) {
	if strings.HasSuffix(path, ".json") {
		return ReadFile(path)
	}
	file := filepath.Join(path, ResultsFile)
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s (want the --out directory of a conform run): %w", path, ResultsFile, err)
	}
	return ReadFile(file)
}

func checkResult(res result.Result) error {
	if res.Requirement == "" {
		return errors.New("requirement is empty")
	}
	if res.Loader == "" {
		return fmt.Errorf("%s: loader is empty", res.Requirement)
	}
	if levelRank(res.Level) < 0 {
		return fmt.Errorf("%s/%s: unknown level %q", res.Loader, res.Requirement, res.Level)
	}
	if statusRank(res.Status) < 0 {
		return fmt.Errorf("%s/%s: unknown status %q", res.Loader, res.Requirement, res.Status)
	}
	return nil
}

// Levels in report order, strictest first.
var levels = []result.Level{result.Must, result.Should, result.May, result.Info}

// Statuses in report order.
var statuses = []result.Status{result.Pass, result.Fail, result.Error, result.Skip}

func levelRank(l result.Level) int { return slices.Index(levels, l) }

func statusRank(s result.Status) int { return slices.Index(statuses, s) }

// severity orders statuses for merging conflicts: the worst one is kept.
func severity(s result.Status) int {
	switch s {
	case result.Fail:
		return 3
	case result.Error:
		return 2
	case result.Skip:
		return 1
	}
	return 0
}

// canonical returns a sorted deep-enough copy of r for writing.
func canonical(r *Results) *Results {
	c := &Results{
		Schema:    SchemaVersion,
		Generated: r.Generated.UTC(),
		Runs:      slices.Clone(r.Runs),
		Results:   slices.Clone(r.Results),
		Conflicts: slices.Clone(r.Conflicts),
	}
	if c.Runs == nil {
		c.Runs = []Run{}
	}
	if c.Results == nil {
		c.Results = []result.Result{}
	}
	sortRuns(c.Runs)
	sortResults(c.Results)
	slices.SortStableFunc(c.Conflicts, func(a, b Conflict) int { return compareKeys(a.key(), b.key()) })
	return c
}

// cellKey identifies one result: the unit that merging never double counts.
type cellKey struct{ Kernel, Topology, Loader, Requirement string }

func keyOf(r result.Result) cellKey {
	return cellKey{r.Kernel, r.Topology, r.Loader, r.Requirement}
}

func compareKeys(a, b cellKey) int {
	return cmpStrings(a.Kernel, b.Kernel, a.Topology, b.Topology, a.Loader, b.Loader, a.Requirement, b.Requirement)
}

// cmpStrings compares pairs (a1, b1, a2, b2, ...) in order.
func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// compareResults is a total order on results: by cell, then by everything
// else through the JSON encoding, so sorting never depends on input order.
func compareResults(a, b result.Result) int {
	if c := compareKeys(keyOf(a), keyOf(b)); c != 0 {
		return c
	}
	return strings.Compare(mustJSON(a), mustJSON(b))
}

func sortResults(rs []result.Result) { slices.SortStableFunc(rs, compareResults) }

func sortRuns(runs []Run) {
	slices.SortStableFunc(runs, func(a, b Run) int {
		if c := cmpStrings(a.Kernel.Name, b.Kernel.Name, a.Topology, b.Topology, a.Host, b.Host); c != 0 {
			return c
		}
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(mustJSON(a), mustJSON(b))
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Results and Runs hold only JSON-encodable fields.
		panic(fmt.Sprintf("report: encode %T: %v", v, err))
	}
	return string(b)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a reader never sees half a report.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
