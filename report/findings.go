package report

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/perfconform/perfconform/result"
)

// A findingGroup is what report.md and report.html list as one finding: the
// results of one loader, requirement and outcome that differ only in where
// they were measured (kernel, topology), with one representative result as
// the evidence. Every result stays in Results (report.html shows them all in
// the matrix cells, results.json keeps them).
//
// ERROR groups are merged further: an interrupted or dead VM turns every
// (loader, requirement) it did not report into an ERROR with the same
// evidence, and those become one group naming all its loaders and
// requirements.
type findingGroup struct {
	Status       result.Status
	Level        result.Level // the strictest level among Results
	Loaders      []string
	Requirements []string
	Results      []result.Result
	// Rep is the representative result: the first that carries a CPU or an
	// errno, else the first.
	Rep    result.Result
	Where  string // e.g. "debian-6.1, debian-6.12: sparse, sparse-high"
	Impact string
	Reason string // the baseline's reason, for known deviations
}

// Levels labels the group with every level among its results, strictest
// first ("MUST" or, for merged ERRORs, "MUST, SHOULD"): Level alone would
// put a SHOULD requirement's ERROR under "(MUST)".
func (g findingGroup) Levels() string {
	var ls []result.Level
	for _, r := range g.Results {
		if !slices.Contains(ls, r.Level) {
			ls = append(ls, r.Level)
		}
	}
	if len(ls) == 0 {
		return string(g.Level)
	}
	slices.SortFunc(ls, func(a, b result.Level) int { return levelRank(a) - levelRank(b) })
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = string(l)
	}
	return strings.Join(names, ", ")
}

// Loader is the group's loader list, e.g. "cilium-ebpf" or "libbpf, bpftool".
func (g findingGroup) Loader() string { return strings.Join(g.Loaders, ", ") }

// Requirement is the group's requirement list.
func (g findingGroup) Requirement() string { return strings.Join(g.Requirements, ", ") }

// Count says how many results the group stands for, e.g. "6 results".
func (g findingGroup) Count() string {
	if len(g.Results) == 1 {
		return "1 result"
	}
	return fmt.Sprintf("%d results", len(g.Results))
}

// RepPlace is where the representative result was measured.
func (g findingGroup) RepPlace() string { return placeText(g.Rep) }

// Evidence is the representative's CPU and errno, and its masks unless its
// detail already quotes them.
func (g findingGroup) Evidence() string {
	r := g.Rep
	if m := r.Masks; m != nil && strings.Contains(r.Detail, "possible "+m.Possible) {
		r.Masks = nil
	}
	return evidence(r)
}

// Detail is the representative's detail on one line, the harness's scratch
// paths shortened; the full text of every result is in results.json
// and in report.html's cells.
func (g findingGroup) Detail() string { return shorten(g.Rep.Detail, detailRunes) }

// detailRunes bounds the representative detail in finding lists.
const detailRunes = 600

// place is where a result was measured. Grouping and the "where" texts go
// through it only, so a new dimension (an architecture, say) is added here.
type place struct{ Outer, Inner string }

func placeOf(r result.Result) place { return place{r.Kernel, r.Topology} }

func placeText(r result.Result) string {
	p := placeOf(r)
	return p.Outer + " / " + p.Inner
}

// scope is, per loader, every place it has results in: what "every
// topology" means for that loader.
type scope map[string]map[place]bool

func scopeOf(results []result.Result) scope {
	s := scope{}
	for _, r := range results {
		if s[r.Loader] == nil {
			s[r.Loader] = map[place]bool{}
		}
		s[r.Loader][placeOf(r)] = true
	}
	return s
}

// whereText describes a set of places compactly: per kernel the sorted
// topologies, "every topology" when that is all the loaders ran there, and
// kernels with the same list merged ("debian-6.1, debian-6.12: sparse").
func whereText(places []place, loaders []string, sc scope) string {
	inners := map[string][]string{}
	for _, p := range places {
		if !slices.Contains(inners[p.Outer], p.Inner) {
			inners[p.Outer] = append(inners[p.Outer], p.Inner)
		}
	}
	all := map[string]int{} // outer -> how many places the loaders ran there
	seen := map[place]bool{}
	for _, l := range loaders {
		for p := range sc[l] {
			if !seen[p] {
				seen[p] = true
				all[p.Outer]++
			}
		}
	}
	var outers []string
	for o := range inners {
		outers = append(outers, o)
	}
	slices.Sort(outers)
	var texts []string
	byText := map[string][]string{}
	for _, o := range outers {
		t := inners[o]
		slices.Sort(t)
		text := strings.Join(t, ", ")
		if len(t) == all[o] && len(t) > 1 {
			text = "every topology"
		}
		if byText[text] == nil {
			texts = append(texts, text)
		}
		byText[text] = append(byText[text], o)
	}
	var parts []string
	for _, t := range texts {
		parts = append(parts, strings.Join(byText[t], ", ")+": "+t)
	}
	return strings.Join(parts, "; ")
}

type groupKey struct {
	Loader, Requirement string
	Status              result.Status
	Reason              string
}

// groupFindings groups findings by loader, requirement, outcome (and
// baseline reason), merges ERROR groups that share their places and
// evidence, and orders them MUST first, FAIL before ERROR, then by loader
// and requirement.
func groupFindings(fs []finding, sc scope, impacts map[string]string) []findingGroup {
	var keys []groupKey
	byKey := map[groupKey]*findingGroup{}
	for _, f := range fs {
		r := f.Result
		k := groupKey{r.Loader, r.Requirement, r.Status, f.Reason}
		g := byKey[k]
		if g == nil {
			g = &findingGroup{Status: r.Status, Level: r.Level, Loaders: []string{r.Loader},
				Requirements: []string{r.Requirement}, Reason: f.Reason}
			byKey[k] = g
			keys = append(keys, k)
		}
		g.Results = append(g.Results, r)
	}
	var out []findingGroup
	for _, k := range keys {
		g := byKey[k]
		sortResults(g.Results)
		g.finish(sc, impacts)
		out = append(out, *g)
	}
	out = mergeErrors(out, sc, impacts)
	slices.SortStableFunc(out, func(a, b findingGroup) int {
		if c := levelRank(a.Level) - levelRank(b.Level); c != 0 {
			return c
		}
		if c := severity(b.Status) - severity(a.Status); c != 0 {
			return c
		}
		if c := compareLoaders(a.Loaders[0], b.Loaders[0]); c != 0 {
			return c
		}
		return cmpStrings(a.Loader(), b.Loader(), a.Requirement(), b.Requirement())
	})
	return out
}

// finish computes what follows from the group's results.
func (g *findingGroup) finish(sc scope, impacts map[string]string) {
	g.Rep = g.Results[0]
	for _, r := range g.Results {
		if r.CPU != nil || r.Errno != "" {
			g.Rep = r
			break
		}
	}
	var places []place
	for _, r := range g.Results {
		places = append(places, placeOf(r))
		if levelRank(r.Level) < levelRank(g.Level) {
			g.Level = r.Level
		}
	}
	g.Where = whereText(places, g.Loaders, sc)
	switch {
	case len(g.Loaders) == 1 && len(g.Requirements) == 1:
		g.Impact = impact(g.Rep, impacts)
	default: // merged ERRORs
		g.Impact = fmt.Sprintf("Not a verdict on %s: the environment could not run these checks, so %s are unverified where listed.",
			g.Loader(), g.Requirement())
	}
}

// mergeErrors merges the ERROR groups that have the same places and the same
// representative detail: one interrupted VM is one finding, not one per
// loader and requirement.
func mergeErrors(gs []findingGroup, sc scope, impacts map[string]string) []findingGroup {
	type errKey struct{ where, detail string }
	var out []findingGroup
	at := map[errKey]int{}
	for _, g := range gs {
		if g.Status != result.Error {
			out = append(out, g)
			continue
		}
		k := errKey{placesKey(g.Results), strings.TrimSpace(g.Rep.Detail)}
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, g)
			continue
		}
		m := &out[i]
		for _, l := range g.Loaders {
			addUnique(&m.Loaders, l)
		}
		for _, r := range g.Requirements {
			addUnique(&m.Requirements, r)
		}
		m.Results = append(m.Results, g.Results...)
	}
	for i := range out {
		if g := &out[i]; g.Status == result.Error && (len(g.Loaders) > 1 || len(g.Requirements) > 1) {
			slices.SortFunc(g.Loaders, compareLoaders)
			slices.Sort(g.Requirements)
			sortResults(g.Results)
			g.finish(sc, impacts)
		}
	}
	return out
}

func placesKey(rs []result.Result) string {
	var ps []string
	for _, r := range rs {
		ps = append(ps, placeText(r))
	}
	slices.Sort(ps)
	return strings.Join(slices.Compact(ps), "\n")
}

// loaderSummary is one loader's entry in the summary that leads both
// reports: the root causes of its failures, each with the requirements it
// takes down, the versions, where it bites and its upstream status.
type loaderSummary struct {
	Loader string // the base name, every version together
	// Versions are the loader names (with versions) of the results, in
	// release order.
	Versions []string
	Causes   []*Cause
	// Errors counts the loader's ERROR results (not verdicts); ErrorWhere
	// says where they are.
	Errors     int
	ErrorWhere string
}

// ErrorCount says how many checks of the loader could not run, e.g. "3 checks".
func (s loaderSummary) ErrorCount() string {
	if s.Errors == 1 {
		return "1 check"
	}
	return fmt.Sprintf("%d checks", s.Errors)
}

// VersionText is the versions the loader ran at, e.g. "1.1, 1.4".
func (s loaderSummary) VersionText() string {
	var vs []string
	for _, l := range s.Versions {
		if v := result.ParseLoaderName(l).Version; v != "" {
			vs = append(vs, v)
		}
	}
	return strings.Join(vs, ", ")
}

// summaryRunes bounds the evidence detail in the summary table.
const summaryRunes = 200

// summarize builds the per-loader summary from the root causes (known
// deviations included, marked) and the ERROR groups; loaders without
// failures get an empty entry.
func summarize(loaders []string, causes []*Cause, errGroups []findingGroup, sc scope) []loaderSummary {
	byBase := map[string]*loaderSummary{}
	var out []*loaderSummary
	sorted := slices.Clone(loaders)
	slices.SortFunc(sorted, compareLoaders)
	for _, l := range sorted {
		b := result.ParseLoaderName(l).Base
		s := byBase[b]
		if s == nil {
			s = &loaderSummary{Loader: b}
			byBase[b] = s
			out = append(out, s)
		}
		s.Versions = append(s.Versions, l)
	}
	for _, c := range causes {
		if s := byBase[c.Base]; s != nil {
			s.Causes = append(s.Causes, c)
		}
	}
	for _, s := range out {
		var errPlaces []place
		for _, g := range errGroups {
			for _, r := range g.Results {
				if result.ParseLoaderName(r.Loader).Base == s.Loader {
					s.Errors++
					errPlaces = append(errPlaces, placeOf(r))
				}
			}
		}
		if s.Errors > 0 {
			s.ErrorWhere = whereText(errPlaces, s.Versions, sc)
		}
	}
	var res []loaderSummary
	for _, s := range out {
		res = append(res, *s)
	}
	return res
}

// cpuErrno is the CPU and errno of a result, without masks.
func cpuErrno(r result.Result) string {
	r.Masks = nil
	return evidence(r)
}

// scratchPath is a path in the suite's temporary or pin directories
// (/tmp/perfconform-suite-1815982247/fixtures/perf_auto.o,
// /sys/fs/bpf/perfconform/run-1/...): only its last element says anything.
var scratchPath = regexp.MustCompile(`(?:/tmp|/sys/fs/bpf)(?:/[^\s/'"():;,\]]+)*/([^\s/'"():;,\]]+)`)

// shorten returns s on one line, whitespace folded and scratch paths cut to
// "…/" and their last element, cut to at most n runes (ending in "…" when
// cut).
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = scratchPath.ReplaceAllString(s, "…/$1")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ,;:") + "…"
}
