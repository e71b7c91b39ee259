package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
)

var (
	// ErrGateOptions: GateOptions asks for something Gate cannot do.
	ErrGateOptions = errors.New("invalid gate options")
	// ErrBaseline: a baseline file cannot be used.
	ErrBaseline = errors.New("invalid baseline")
	// ErrUnknownName: a baseline's deviation names a requirement, topology
	// or kernel that does not exist, so it can never match a result.
	ErrUnknownName = errors.New("names something that does not exist")
)

// BaselineSchema is the version of the baseline file format.
const BaselineSchema = 1

// Baseline lists a loader's known deviations: failures its maintainers know
// about and accept for now. A matched failure does not gate, and reports list
// it as a known deviation with its reason instead of as a finding. Loader is
// a full name ("libbpf@1.4": that version only) or a bare one ("libbpf":
// every version); when both exist the versioned one applies (BaselineFor).
type Baseline struct {
	Schema     int         `json:"schema"`
	Loader     string      `json:"loader"`
	Deviations []Deviation `json:"deviations"`

	// path is the file LoadBaseline read, for messages.
	path string
}

// Deviation is one known deviation. Topology and Kernel narrow it; empty
// means any.
type Deviation struct {
	Requirement string `json:"requirement"`
	Reason      string `json:"reason"`
	Topology    string `json:"topology,omitempty"`
	Kernel      string `json:"kernel,omitempty"`
}

// Match returns the first deviation of b that covers the failed result r.
// Only FAIL results of b's loader match: an ERROR says nothing about the
// loader, so there is nothing to accept.
func (b Baseline) Match(r result.Result) (Deviation, bool) {
	if r.Status != result.Fail || b.Loader == "" || !result.ParseLoaderName(b.Loader).Selects(r.Loader) {
		return Deviation{}, false
	}
	for _, d := range b.Deviations {
		if d.Requirement == r.Requirement &&
			(d.Topology == "" || d.Topology == r.Topology) &&
			(d.Kernel == "" || d.Kernel == r.Kernel) {
			return d, true
		}
	}
	return Deviation{}, false
}

// LoadBaseline reads a baseline file. Unknown fields, a key given twice, a
// missing loader, requirement or reason, and duplicate entries are errors
// that name the file and the entry.
func LoadBaseline(path string) (Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Baseline{}, fmt.Errorf("baseline: %w", err)
	}
	var b Baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Baseline{}, fmt.Errorf("baseline %s: %w: %v", path, ErrBaseline, err)
	}
	if dec.More() {
		return Baseline{}, fmt.Errorf("baseline %s: %w: data after the JSON object", path, ErrBaseline)
	}
	if err := checkDuplicateKeys(data, true); err != nil {
		return Baseline{}, fmt.Errorf("baseline %s: %w: %w", path, ErrBaseline, err)
	}
	if b.Schema != BaselineSchema {
		return Baseline{}, fmt.Errorf("baseline %s: %w: schema %d, want \"schema\": %d", path, ErrBaseline, b.Schema, BaselineSchema)
	}
	if b.Loader == "" {
		return Baseline{}, fmt.Errorf("baseline %s: %w: \"loader\" is empty", path, ErrBaseline)
	}
	seen := map[Deviation]int{}
	for i, d := range b.Deviations {
		switch {
		case d.Requirement == "":
			return Baseline{}, fmt.Errorf("baseline %s: %w: deviations[%d]: \"requirement\" is empty", path, ErrBaseline, i)
		case strings.TrimSpace(d.Reason) == "":
			return Baseline{}, fmt.Errorf("baseline %s: %w: deviations[%d] (%s): \"reason\" is empty; say why the deviation is accepted", path, ErrBaseline, i, d.Requirement)
		}
		k := d
		k.Reason = ""
		if j, dup := seen[k]; dup {
			return Baseline{}, fmt.Errorf("baseline %s: %w: deviations[%d] (%s) repeats deviations[%d]", path, ErrBaseline, i, d.Requirement, j)
		}
		seen[k] = i
	}
	b.path = path
	return b, nil
}

// Names says which requirement IDs, topology names and kernel names exist,
// for Baseline.Check. The report package knows no IDs: the caller supplies
// them (the suite's requirements, the topology and kernel catalogs). A nil
// func accepts every name.
type Names struct {
	Requirement, Topology, Kernel func(string) bool
}

// Check returns one error, wrapping ErrUnknownName, for each deviation of b
// that names a requirement, topology or kernel names does not know. Such a
// deviation never matches a result: it is a typo, or its requirement was
// renamed, and the failure it was written for gates (or the entry is dead).
// LoadBaseline does not check names, so callers choose between warning and
// refusing.
func (b Baseline) Check(names Names) []error {
	where := "baseline"
	if b.path != "" {
		where += " " + b.path
	}
	var out []error
	for i, d := range b.Deviations {
		for _, f := range []struct {
			field, value string
			known        func(string) bool
		}{
			{"requirement", d.Requirement, names.Requirement},
			{"topology", d.Topology, names.Topology},
			{"kernel", d.Kernel, names.Kernel},
		} {
			if f.value != "" && f.known != nil && !f.known(f.value) {
				out = append(out, fmt.Errorf("%s: deviations[%d] (%s) %w: %s %q is unknown, so the deviation never matches a result",
					where, i, d.Requirement, ErrUnknownName, f.field, f.value))
			}
		}
	}
	return out
}

// BaselineFor returns the baseline that applies to loader's results: the
// one filed under its full name ("libbpf@1.4"), else the one under its base
// name ("libbpf"), else none (the zero Baseline matches nothing).
func BaselineFor(baselines map[string]Baseline, loader string) Baseline {
	if b, ok := baselines[loader]; ok {
		return b
	}
	return baselines[result.ParseLoaderName(loader).Base]
}

// LoadBaselines loads baseline files and indexes them by loader, as
// GateOptions.Baselines and Options.Baselines want. Two files for the same
// loader are an error.
func LoadBaselines(paths ...string) (map[string]Baseline, error) {
	out := map[string]Baseline{}
	from := map[string]string{}
	for _, p := range paths {
		b, err := LoadBaseline(p)
		if err != nil {
			return nil, err
		}
		if prev, dup := from[b.Loader]; dup {
			return nil, fmt.Errorf("baseline %s: %w: loader %q already has baseline %s", p, ErrBaseline, b.Loader, prev)
		}
		from[b.Loader] = p
		out[b.Loader] = b
	}
	return out, nil
}

// LoadCheckedBaselines is LoadBaselines followed by Baseline.Check of every
// baseline against names, loaders in name order: problems are the deviations
// that name a requirement, topology or kernel names does not know (each
// wrapping ErrUnknownName). Such a deviation never matches a result, so
// callers warn about problems or refuse them; err is a file that cannot be
// used at all.
func LoadCheckedBaselines(names Names, paths ...string) (baselines map[string]Baseline, problems []error, err error) {
	bs, err := LoadBaselines(paths...)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range slices.Sorted(maps.Keys(bs)) {
		problems = append(problems, bs[l].Check(names)...)
	}
	return bs, problems, nil
}

// Known is a failure covered by a baseline.
type Known struct {
	Result    result.Result
	Deviation Deviation
}

// KnownDeviations returns the failures in r that baselines cover, in
// canonical order.
func KnownDeviations(r *Results, baselines map[string]Baseline) []Known {
	var out []Known
	for _, res := range canonical(r).Results {
		if d, ok := BaselineFor(baselines, res.Loader).Match(res); ok {
			out = append(out, Known{Result: res, Deviation: d})
		}
	}
	return out
}

// GateOptions says which results fail a build.
type GateOptions struct {
	// FailLevel is result.Must (a FAIL of a MUST gates) or result.Should
	// (a FAIL of a MUST or a SHOULD gates).
	FailLevel result.Level
	// Loaders restricts gating to these loaders; empty means every loader
	// in the results. A bare name ("libbpf") gates every version of that
	// loader in the results, a full one ("libbpf@1.4") that version only
	// (result.LoaderName.Selects).
	Loaders []string
	// AllowErrors lets ERROR results at gating levels and run errors pass.
	// Off by default: an ERROR means the requirement was not checked.
	AllowErrors bool
	// Baselines, by loader name, mark known deviations that do not gate.
	Baselines map[string]Baseline
	// KnownRequirement, when set, says whether a requirement ID exists
	// (the report package knows none; the suite's: conform.Names()'s
	// Requirement). Gate refuses results naming another ID.
	KnownRequirement func(id string) bool
	// AllowNoVerdict lets a gated loader that got no verdict at all (see
	// NoVerdict) pass. Off by default, AllowErrors included: an ERROR is
	// allowed as one requirement not checked, not as a loader never judged.
	AllowNoVerdict bool
}

// Violation is one reason to fail the build.
type Violation struct {
	Kernel, Topology, Loader string
	// Result is the offending result; nil for a run error or a loader
	// without results.
	Result *result.Result
	Reason string
}

func (v Violation) String() string {
	where := strings.Join(nonEmpty(v.Kernel, v.Topology, v.Loader), "/")
	if where == "" {
		return v.Reason
	}
	return where + ": " + v.Reason
}

// ParseLevel parses a gate level as given on a command line: "must" or
// "should", in any case.
func ParseLevel(s string) (result.Level, error) {
	switch l := result.Level(strings.ToUpper(s)); l {
	case result.Must, result.Should:
		return l, nil
	}
	return "", fmt.Errorf("%w: fail level %q: want must or should", ErrGateOptions, s)
}

// Gate returns the violations in r under opts, in canonical order; none means
// the build passes. A FAIL at or above FailLevel gates unless a baseline
// covers it; an ERROR at those levels, or a run error, gates unless
// AllowErrors; a gated loader with no results at all gates, and so does one
// a run lists (Run.Loaders) without a result in that run, so that an empty or
// truncated run never passes. Every loader (Loaders empty) is every loader in
// the results or in a run's list. Results with two entries for one cell, or
// a requirement KnownRequirement refuses, are an error wrapping ErrInvalid.
// A gated loader whose results hold no verdict at all (NoVerdict) gates
// too, unless AllowNoVerdict (AllowErrors does not allow it).
func Gate(r *Results, opts GateOptions) ([]Violation, error) {
	var gated []result.Level
	switch opts.FailLevel {
	case result.Must:
		gated = []result.Level{result.Must}
	case result.Should:
		gated = []result.Level{result.Must, result.Should}
	default:
		return nil, fmt.Errorf("%w: FailLevel %q: want %s or %s", ErrGateOptions, opts.FailLevel, result.Must, result.Should)
	}
	for name, b := range opts.Baselines {
		if b.Loader != name {
			return nil, fmt.Errorf("%w: baseline for loader %q is filed under %q", ErrGateOptions, b.Loader, name)
		}
	}
	if err := checkCells(r, opts.KnownRequirement); err != nil {
		return nil, err
	}
	c := canonical(r)
	gates := func(loader string) bool {
		return len(opts.Loaders) == 0 || slices.ContainsFunc(opts.Loaders, func(l string) bool {
			return result.ParseLoaderName(l).Selects(loader)
		})
	}
	have := map[string]bool{} // --gate value -> it selected some result
	selected := func(loader string) bool {
		if len(opts.Loaders) == 0 {
			have[loader] = true
			return true
		}
		hit := false
		for _, l := range opts.Loaders {
			if result.ParseLoaderName(l).Selects(loader) {
				have[l], hit = true, true
			}
		}
		return hit
	}

	var out []Violation
	if !opts.AllowErrors {
		for _, run := range c.Runs {
			if run.Error != "" {
				out = append(out, Violation{Kernel: run.Kernel.Name, Topology: run.Topology,
					Reason: "run error: " + firstLine(run.Error)})
			}
		}
	}
	for i := range c.Results {
		res := &c.Results[i]
		if !selected(res.Loader) {
			continue
		}
		if !slices.Contains(gated, res.Level) {
			continue
		}
		v := Violation{Kernel: res.Kernel, Topology: res.Topology, Loader: res.Loader, Result: res}
		switch res.Status {
		case result.Fail:
			if _, known := BaselineFor(opts.Baselines, res.Loader).Match(*res); known {
				continue
			}
			v.Reason = fmt.Sprintf("%s %s failed: %s", res.Level, res.Requirement, firstLine(res.Detail))
		case result.Error:
			if opts.AllowErrors {
				continue
			}
			v.Reason = fmt.Sprintf("%s %s could not be checked (ERROR): %s", res.Level, res.Requirement, firstLine(res.Detail))
		default:
			continue
		}
		out = append(out, v)
	}
	// Every loader is every loader the runs list, not only those with
	// results: a loader a run lists without a result there was in the run
	// and was not judged (a truncated or edited file). A run with an error
	// answers for its missing results itself (it gates unless errors are
	// allowed); a run not realizable has none to miss.
	inRun := map[cellKey]bool{}
	for _, res := range c.Results {
		inRun[cellKey{Kernel: res.Kernel, Topology: res.Topology, Loader: res.Loader}] = true
	}
	for _, run := range c.Runs {
		if run.Error != "" || run.NotRealizable != "" {
			continue
		}
		for _, l := range run.Loaders {
			if gates(l.Name) && !inRun[cellKey{Kernel: run.Kernel.Name, Topology: run.Topology, Loader: l.Name}] {
				out = append(out, Violation{Kernel: run.Kernel.Name, Topology: run.Topology, Loader: l.Name,
					Reason: "the run lists this loader but it has no results there"})
			}
		}
	}
	if !opts.AllowNoVerdict {
		for _, l := range NoVerdict(c) {
			if gates(l) {
				out = append(out, Violation{Loader: l, Reason: noVerdictReason})
			}
		}
	}
	switch {
	case len(opts.Loaders) == 0 && len(have) == 0:
		out = append(out, Violation{Reason: "no results to gate on"})
	default:
		for _, l := range opts.Loaders {
			if !have[l] {
				out = append(out, Violation{Loader: l, Reason: "no results for this loader"})
			}
		}
	}
	return out, nil
}

// noVerdictReason is the violation of a gated loader NoVerdict lists.
const noVerdictReason = "no verdict at all: not one requirement PASSed or FAILed (every result ERROR or SKIP), so the gate says nothing about this loader"

// NoVerdict lists, in name order, the loaders in r that have results but not
// one PASS or FAIL among them, at any level and anywhere: a loader that could
// not be judged at all (an adapter broken from the start, a loader that
// cannot run in this environment). Gate refuses such a gated loader unless
// AllowNoVerdict, even with AllowErrors; `conform run` names them under its
// summary line.
func NoVerdict(r *Results) []string {
	judged := map[string]bool{}
	for _, res := range r.Results {
		judged[res.Loader] = judged[res.Loader] || res.Status == result.Pass || res.Status == result.Fail
	}
	var out []string
	for l, ok := range judged {
		if !ok {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// checkCells refuses results Gate cannot vouch for: two results for one
// cell (which one would the gate judge?), and requirement IDs known does
// not know (nil: any). Every problem is named, by its index in r.Results.
func checkCells(r *Results, known func(string) bool) error {
	var errs []error
	first := map[cellKey]int{}
	for i, res := range r.Results {
		where := res.Kernel + "/" + res.Topology + "/" + res.Loader
		if known != nil && !known(res.Requirement) {
			errs = append(errs, fmt.Errorf("results[%d] (%s): requirement %q is unknown to this suite", i, where, res.Requirement))
		}
		k := keyOf(res)
		if j, dup := first[k]; dup {
			errs = append(errs, fmt.Errorf("results[%d] repeats results[%d]: two results for the cell %s %s", i, j, where, res.Requirement))
			continue
		}
		first[k] = i
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: the gate cannot judge these results: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
