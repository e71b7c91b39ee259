package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
)

// Options carry what the reports need beyond the results themselves.
type Options struct {
	// Impacts maps a requirement ID to one line on what a FAIL of it means
	// for users of the loader (the suite defines requirements, so the texts
	// come from the caller). Requirements without a text get a generic line.
	Impacts map[string]string
	// Baselines, by loader name, turn matching failures into known
	// deviations: listed with their reason rather than as findings.
	Baselines map[string]Baseline
	// Levels maps requirement IDs to their current level. Results carry
	// the level they were judged at; the reports show a requirement the
	// caller knows at its current level (results.json is written as is),
	// so results judged before a level changed render with today's levels,
	// and the header says which changed. Requirements it does not list keep
	// their results' level.
	Levels map[string]result.Level
	// Classify gives the topology classes of a place's masks, for the
	// compatibility table and the root causes ("sparse online"); nil names
	// topologies instead.
	Classify Classifier
	// Upstream maps findings to upstream reports (reports/upstream.json);
	// nil leaves every cause's upstream status "not recorded".
	Upstream *Upstream
}

// Verdict classes of a matrix cell, also used as CSS classes in report.html.
const (
	verdictFailMust = "fail-must" // a MUST failed (not a known deviation)
	verdictFail     = "fail"      // a SHOULD or MAY failed
	verdictError    = "error"     // something could not be checked
	verdictKnown    = "known"     // only known deviations failed
	verdictPass     = "pass"
	verdictSkip     = "skip"    // everything skipped
	verdictNotRun   = "not-run" // no results
	verdictRunError = "run-error"
)

var verdictLabels = map[string]string{
	verdictFailMust: "FAIL (MUST)",
	verdictFail:     "FAIL",
	verdictError:    "ERROR",
	verdictKnown:    "FAIL (known)",
	verdictPass:     "PASS",
	verdictSkip:     "SKIP",
	verdictNotRun:   "not run",
	verdictRunError: "run error",
}

// model is what every rendering shows, computed once.
type model struct {
	Generated string
	// Setup names the kernels, loaders (with versions) and accelerators
	// the results come from, for the report's header.
	Setup    string
	Schema   int
	NResults int
	NRuns    int
	Kernels  []*kernelView
	// Summary is one entry per loader: the root causes of its failures.
	Summary []loaderSummary
	// Compat is the compatibility table that opens the reports.
	Compat *compatTable
	// Causes are the root causes of the FAILs no baseline covers;
	// KnownCauses those of the failures baselines accept.
	Causes      []*Cause
	KnownCauses []*Cause
	// LevelChanges lists requirements whose results were judged at another
	// level than the current one (Options.Levels).
	LevelChanges []string
	// Findings are the FAILs and ERRORs no baseline covers, grouped;
	// Known the failures baselines accept.
	Findings  []findingGroup
	Known     []findingGroup
	RunErrors []Run
	Conflicts []Conflict
	// Versions is the "LOADER across releases" sections (versions.go).
	Versions []versionHistory
}

type kernelView struct {
	Name       string
	Versions   string // uname -r of its runs, comma separated
	Topologies []string
	// Synthetic lists the topologies whose runs were faked in the guest.
	Synthetic map[string]bool
	Rows      []*loaderRow
	Runs      []Run
}

type loaderRow struct {
	Loader   string
	Versions string
	Cells    []*cell
}

type cell struct {
	Kernel, Topology, Loader string
	Results                  []result.Result
	counts                   map[result.Level]map[result.Status]int
	Verdict                  string
	RunError                 string
	baseline                 Baseline // the loader's, to mark known failures
}

// Masks are the masks the cell's results report, when they all agree.
func (c *cell) Masks() string {
	var out string
	for i, r := range c.Results {
		m := maskText(r.Masks)
		if i > 0 && m != out {
			return ""
		}
		out = m
	}
	if out == "—" {
		return ""
	}
	return out
}

// Label is the cell's headline, e.g. "FAIL (MUST)".
func (c *cell) Label() string { return verdictLabels[c.Verdict] }

// CountLines are the non-zero counts by level, problems first and naming
// the requirements that failed or errored, e.g.
// "MUST: 1 FAIL (SIZE-AUTO), 10 PASS". Failures a baseline accepts are
// listed after "known:"; "(all)" stands for every requirement of the level.
func (c *cell) CountLines() []string {
	var out []string
	for _, l := range levels {
		total := 0
		for _, s := range statuses {
			total += c.counts[l][s]
		}
		var parts []string
		for _, s := range cellStatuses {
			n := c.counts[l][s]
			if n == 0 {
				continue
			}
			part := fmt.Sprintf("%d %s", n, s)
			if s == result.Fail || s == result.Error {
				part += " (" + c.ids(l, s, n == total && n > 1) + ")"
			}
			parts = append(parts, part)
		}
		if len(parts) > 0 {
			out = append(out, fmt.Sprintf("%s: %s", l, strings.Join(parts, ", ")))
		}
	}
	return out
}

// Outcomes are the cell's results as report.html lists them: FAIL and ERROR
// first, then by level (strictest first) and requirement.
func (c *cell) Outcomes() []result.Result {
	out := slices.Clone(c.Results)
	slices.SortStableFunc(out, func(a, b result.Result) int {
		return slices.Index(cellStatuses, a.Status) - slices.Index(cellStatuses, b.Status)
	})
	return out
}

// cellStatuses orders a cell's counts: what needs attention first.
var cellStatuses = []result.Status{result.Fail, result.Error, result.Pass, result.Skip}

// ids lists the requirements of level l with status s in the cell.
func (c *cell) ids(l result.Level, s result.Status, all bool) string {
	var ids, known []string
	for _, r := range c.Results {
		if r.Level != l || r.Status != s {
			continue
		}
		if _, ok := c.baseline.Match(r); ok {
			known = append(known, r.Requirement)
		} else {
			ids = append(ids, r.Requirement)
		}
	}
	if all && len(known) == 0 {
		return "all"
	}
	slices.Sort(ids)
	slices.Sort(known)
	text := strings.Join(ids, ", ")
	if len(known) > 0 {
		text = strings.TrimPrefix(text+"; known: "+strings.Join(known, ", "), "; ")
	}
	return text
}

// finding is a FAIL or ERROR result, before grouping.
type finding struct {
	Result result.Result
	// Reason is the baseline's reason, for known deviations.
	Reason string
}

func evidence(r result.Result) string {
	var parts []string
	if r.CPU != nil {
		parts = append(parts, fmt.Sprintf("CPU %d", *r.CPU))
	}
	if r.Errno != "" {
		parts = append(parts, "errno "+r.Errno)
	}
	if m := r.Masks; m != nil {
		parts = append(parts, fmt.Sprintf("possible %s, present %s, online %s", dash(m.Possible), dash(m.Present), dash(m.Online))+affinityText(m))
	}
	return strings.Join(parts, " · ")
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// impact is the one line on what a result means for users of its loader.
func impact(r result.Result, impacts map[string]string) string {
	if r.Status == result.Error {
		return fmt.Sprintf("Not a verdict on %s: the environment could not run this check, so %s is unverified where listed.", r.Loader, r.Requirement)
	}
	if t := strings.TrimSpace(impacts[r.Requirement]); t != "" {
		return t
	}
	what := map[result.Level]string{
		result.Must:   "breaks a MUST: expect failures or lost events",
		result.Should: "misses a SHOULD: expect degraded behaviour",
		result.May:    "misbehaves in an optional feature",
	}[r.Level]
	if what == "" {
		what = "behaves differently from the reference"
	}
	return fmt.Sprintf("Where listed, %s %s (%s).", r.Loader, what, r.Requirement)
}

func buildModel(r *Results, opts Options) *model {
	c := canonical(r)
	levelChanges := applyLevels(c, opts.Levels)
	m := &model{
		LevelChanges: levelChanges,
		Generated:    c.Generated.Format("2006-01-02T15:04:05Z07:00"),
		Schema:       SchemaVersion,
		NResults:     len(c.Results),
		NRuns:        len(c.Runs),
		Conflicts:    c.Conflicts,
		Setup:        setupLine(c),

		Versions: versionHistories(c),
	}
	byKernel := map[string]*kernelView{}
	kernel := func(name string) *kernelView {
		k := byKernel[name]
		if k == nil {
			k = &kernelView{Name: name}
			byKernel[name] = k
		}
		return k
	}
	type tk struct{ k, t string }
	runErrors := map[tk][]string{}
	kernelVersions := map[string][]string{}
	for _, run := range c.Runs {
		k := kernel(run.Kernel.Name)
		k.Runs = append(k.Runs, run)
		addUnique(&k.Topologies, run.Topology)
		if run.Synthetic {
			if k.Synthetic == nil {
				k.Synthetic = map[string]bool{}
			}
			k.Synthetic[run.Topology] = true
		}
		if run.Kernel.Version != "" && run.Kernel.Version != run.Kernel.Name { // a kernel given by path is named by its release
			addTo(kernelVersions, run.Kernel.Name, run.Kernel.Version)
		}
		if run.Error != "" {
			runErrors[tk{run.Kernel.Name, run.Topology}] = append(runErrors[tk{run.Kernel.Name, run.Topology}], firstLine(run.Error))
			m.RunErrors = append(m.RunErrors, run)
		}
	}
	loaders := map[string][]string{}        // kernel -> loaders
	loaderVersions := map[string][]string{} // loader -> versions
	cells := map[cellKey]*cell{}            // Requirement empty
	var findings, known []finding
	for _, res := range c.Results {
		k := kernel(res.Kernel)
		addUnique(&k.Topologies, res.Topology)
		addTo(loaders, res.Kernel, res.Loader)
		if res.LoaderVersion != "" {
			addTo(loaderVersions, res.Loader, res.LoaderVersion)
		}
		ck := cellKey{res.Kernel, res.Topology, res.Loader, ""}
		cl := cells[ck]
		if cl == nil {
			cl = &cell{Kernel: res.Kernel, Topology: res.Topology, Loader: res.Loader,
				counts: map[result.Level]map[result.Status]int{}}
			cells[ck] = cl
		}
		cl.Results = append(cl.Results, res)
		if cl.counts[res.Level] == nil {
			cl.counts[res.Level] = map[result.Status]int{}
		}
		cl.counts[res.Level][res.Status]++

		switch res.Status {
		case result.Fail, result.Error:
			if d, ok := BaselineFor(opts.Baselines, res.Loader).Match(res); ok {
				known = append(known, finding{Result: res, Reason: d.Reason})
			} else {
				findings = append(findings, finding{Result: res})
			}
		}
	}
	// Loaders that took part in a run but produced no results still get a row.
	for _, run := range c.Runs {
		for _, l := range run.Loaders {
			addTo(loaders, run.Kernel.Name, l.Name)
			if l.Version != "" {
				addTo(loaderVersions, l.Name, l.Version)
			}
		}
	}

	names := make([]string, 0, len(byKernel))
	for n := range byKernel {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		k := byKernel[n]
		slices.Sort(k.Topologies)
		k.Versions = strings.Join(kernelVersions[n], ", ")
		ls := loaders[n]
		slices.SortFunc(ls, compareLoaders) // versions in release order
		for _, l := range ls {
			row := &loaderRow{Loader: l, Versions: strings.Join(loaderVersions[l], ", ")}
			for _, t := range k.Topologies {
				cl := cells[cellKey{n, t, l, ""}]
				if cl == nil {
					cl = &cell{Kernel: n, Topology: t, Loader: l}
				}
				cl.RunError = strings.Join(runErrors[tk{n, t}], "; ")
				cl.baseline = BaselineFor(opts.Baselines, l)
				// Strictest level first, then by requirement.
				slices.SortStableFunc(cl.Results, func(a, b result.Result) int { return levelRank(a.Level) - levelRank(b.Level) })
				cl.Verdict = verdictOf(cl, BaselineFor(opts.Baselines, l))
				row.Cells = append(row.Cells, cl)
			}
			k.Rows = append(k.Rows, row)
		}
		m.Kernels = append(m.Kernels, k)
	}
	sc := scopeOf(c.Results)
	causes := rootCauses(append(slices.Clone(findings), known...), c.Results, opts.Classify, opts.Upstream, opts.Impacts)
	for _, rc := range causes {
		if rc.Known {
			m.KnownCauses = append(m.KnownCauses, rc)
		} else {
			m.Causes = append(m.Causes, rc)
		}
	}
	m.Compat = buildCompat(c, causes, opts.Classify)
	// FAILs are listed by root cause; the findings list keeps the ERRORs.
	var errs []finding
	for _, f := range findings {
		if f.Result.Status == result.Error {
			errs = append(errs, f)
		}
	}
	m.Findings = groupFindings(errs, sc, opts.Impacts)
	m.Known = groupFindings(known, sc, opts.Impacts)
	var all []string
	for _, ls := range loaders {
		for _, l := range ls {
			addUnique(&all, l)
		}
	}
	slices.Sort(all)
	m.Summary = summarize(all, causes, m.Findings, sc)
	return m
}

func verdictOf(c *cell, b Baseline) string {
	if len(c.Results) == 0 {
		if c.RunError != "" {
			return verdictRunError
		}
		return verdictNotRun
	}
	var failMust, fail, known, errs, pass bool
	for _, r := range c.Results {
		switch r.Status {
		case result.Fail:
			if _, ok := b.Match(r); ok {
				known = true
			} else if r.Level == result.Must {
				failMust = true
			} else {
				fail = true
			}
		case result.Error:
			errs = true
		case result.Pass:
			pass = true
		}
	}
	switch {
	case failMust:
		return verdictFailMust
	case fail:
		return verdictFail
	case errs || c.RunError != "":
		return verdictError
	case known:
		return verdictKnown
	case pass:
		return verdictPass
	}
	return verdictSkip
}

func addTo(m map[string][]string, k, v string) {
	if !slices.Contains(m[k], v) {
		m[k] = append(m[k], v)
	}
}

func addUnique(s *[]string, v string) {
	if !slices.Contains(*s, v) {
		*s = append(*s, v)
	}
}

// TopologyLabel is a topology's column heading: its name, marked when the
// topology is synthetic.
func (k *kernelView) TopologyLabel(t string) string {
	if k.Synthetic[t] {
		return t + " (synthetic)"
	}
	return t
}

// setupLine summarizes what the results were measured with: kernels with
// their uname -r, loaders with their versions, accelerators.
func setupLine(c *Results) string {
	var kernels, loaders, accels, arches []string
	for _, run := range c.Runs {
		k := run.Kernel.Name
		if run.Kernel.Version != "" && run.Kernel.Version != run.Kernel.Name {
			k += " (" + run.Kernel.Version + ")"
		}
		addUnique(&kernels, k)
		if run.Accelerator != "" {
			addUnique(&accels, run.Accelerator)
		}
		if run.Kernel.Arch != "" {
			addUnique(&arches, run.Kernel.Arch)
		}
	}
	for _, r := range c.Results {
		l := r.Loader
		if r.LoaderVersion != "" {
			l += " " + r.LoaderVersion
		}
		addUnique(&loaders, l)
	}
	slices.Sort(kernels)
	// "name version": by loader, versions in release order
	slices.SortFunc(loaders, func(a, b string) int { return compareLoaders(strings.Fields(a)[0], strings.Fields(b)[0]) })
	slices.Sort(accels)
	line := fmt.Sprintf("Kernels: %s. Loaders: %s. Accelerators: %s.",
		strings.Join(kernels, ", "), strings.Join(loaders, ", "), strings.Join(accels, ", "))
	if len(arches) > 0 {
		slices.Sort(arches)
		line += fmt.Sprintf(" Architectures: %s.", strings.Join(arches, ", "))
	}
	return line
}
