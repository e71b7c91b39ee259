package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
)

// The compatibility table that opens both reports: one row per requirement
// (grouped by level, strictest first), one column per loader@version (the
// reference first, then by loader and release order), and in each cell
// whether that version passed the requirement everywhere it ran (✓), where
// it failed, named by topology classes derived from the masks of the places
// (✗ sparse online), or that it did not run (–). Under each level's rows,
// a note wherever the outcome on the places every version of a loader ran
// changes from one release to the next ("since v0.16.0", "until v0.11.0").

const (
	cellPass  = "pass"
	cellFail  = "fail"
	cellKnown = "known"
	cellError = "error"
	cellSkip  = "skip"
	cellNone  = "none"
)

type compatTable struct {
	Columns []compatColumn
	Groups  []compatGroup
	// Coverage says where each set of columns ran, e.g.
	// "cilium-ebpf@v0.9.1 … @v0.19.0: debian-6.1: gapped-possible, …".
	Coverage []string
}

type compatColumn struct {
	Loader string // as results name it
	Label  string // the loader, with its version when the name has none
}

type compatGroup struct {
	Level result.Level
	Rows  []compatRow
}

type compatRow struct {
	Requirement string
	Level       result.Level
	Cells       []compatCell
	// Notes say where the outcome changes across a loader's versions.
	Notes []string
}

type compatCell struct {
	Loader, Requirement string
	State               string // cellPass, cellFail, …
	Text                string // "✓", "✗ sparse online", "–"
	Results             []result.Result
	Causes              []cellCause
	Errors              []result.Result
}

// cellCause is one cause of a cell's failures, with where it bites within
// that cell.
type cellCause struct {
	Cause *Cause
	Bites string
	Rep   result.Result
	Where string
}

// RepText is the cell cause's evidence on one line.
func (c cellCause) RepText() string {
	ev := placeText(c.Rep)
	if e := cpuErrno(c.Rep); e != "" {
		ev += ": " + e
	}
	if d := shorten(c.Rep.Detail, detailRunes); d != "" {
		ev += ": " + d
	}
	return ev
}

func buildCompat(c *Results, causes []*Cause, classify Classifier) *compatTable {
	t := &compatTable{}
	causeOf := map[cellKey]*Cause{}
	for _, rc := range causes {
		for _, r := range rc.Results {
			causeOf[keyOf(r)] = rc
		}
	}
	byCell := map[[2]string][]result.Result{} // (requirement, loader)
	levelOf := map[string]result.Level{}
	version := map[string]string{}
	var loaders []string
	for _, r := range c.Results {
		k := [2]string{r.Requirement, r.Loader}
		byCell[k] = append(byCell[k], r)
		if l, ok := levelOf[r.Requirement]; !ok || levelRank(r.Level) < levelRank(l) {
			levelOf[r.Requirement] = r.Level
		}
		addUnique(&loaders, r.Loader)
		if version[r.Loader] == "" {
			version[r.Loader] = r.LoaderVersion
		}
	}
	slices.SortFunc(loaders, compareLoaders)
	for _, l := range loaders {
		label := l
		if result.ParseLoaderName(l).Version == "" && version[l] != "" {
			label += " " + strings.Fields(version[l])[0]
		}
		t.Columns = append(t.Columns, compatColumn{Loader: l, Label: label})
	}
	sc := scopeOf(c.Results)
	coverage := map[string][]string{}
	var coverageOrder []string
	for _, l := range loaders {
		var places []place
		for p := range sc[l] {
			places = append(places, p)
		}
		w := whereText(places, []string{l}, scope{})
		if coverage[w] == nil {
			coverageOrder = append(coverageOrder, w)
		}
		coverage[w] = append(coverage[w], l)
	}
	for _, w := range coverageOrder {
		t.Coverage = append(t.Coverage, versionList(coverage[w])+": "+w)
	}

	reqs := slices.Sorted(maps.Keys(levelOf))
	for _, lvl := range levels {
		g := compatGroup{Level: lvl}
		for _, req := range reqs {
			if levelOf[req] != lvl {
				continue
			}
			row := compatRow{Requirement: req, Level: lvl}
			for _, col := range t.Columns {
				row.Cells = append(row.Cells, buildCell(req, col.Loader, byCell[[2]string{req, col.Loader}], causeOf, classify))
			}
			row.Notes = versionNotes(row, t.Columns, causeOf, classify)
			g.Rows = append(g.Rows, row)
		}
		if len(g.Rows) > 0 {
			t.Groups = append(t.Groups, g)
		}
	}
	return t
}

// versionList names loaders compactly: "aya", or
// "cilium-ebpf@v0.9.1, @v0.11.0" for versions of one loader.
func versionList(ls []string) string {
	var parts []string
	prev := ""
	for _, l := range ls {
		n := result.ParseLoaderName(l)
		if n.Base == prev && n.Version != "" {
			parts = append(parts, "@"+n.Version)
		} else {
			parts = append(parts, l)
		}
		prev = n.Base
	}
	return strings.Join(parts, ", ")
}

func buildCell(req, loader string, rs []result.Result, causeOf map[cellKey]*Cause, classify Classifier) compatCell {
	cl := compatCell{Loader: loader, Requirement: req, Results: rs}
	if len(rs) == 0 {
		cl.State, cl.Text = cellNone, "–"
		return cl
	}
	var failed []result.Result
	var pass int
	for _, r := range rs {
		switch r.Status {
		case result.Fail:
			failed = append(failed, r)
		case result.Error:
			cl.Errors = append(cl.Errors, r)
		case result.Pass:
			pass++
		}
	}
	if len(failed) > 0 {
		byCause := map[*Cause][]result.Result{}
		var order []*Cause
		for _, r := range failed {
			rc := causeOf[keyOf(r)]
			if byCause[rc] == nil {
				order = append(order, rc)
			}
			byCause[rc] = append(byCause[rc], r)
		}
		known := true
		var texts []string
		for _, rc := range order {
			fs := byCause[rc]
			// Where this requirement failed for this version, against
			// where it passed: a cause that takes down several
			// requirements bites in more places than each of them fails
			// (aya's E2BIG on gapped possible lists and on every
			// explicit size of 1 is one cause; RING-CREATE fails on the
			// first only).
			text, _, everywhere := bites(fs, rs, classify)
			if everywhere {
				text = "everywhere"
			}
			cc := cellCause{Cause: rc, Bites: text, Rep: fs[0], Where: whereText(placesOf(fs), []string{loader}, scopeOf(rs))}
			for _, r := range fs {
				if r.CPU != nil || r.Errno != "" {
					cc.Rep = r
					break
				}
			}
			cl.Causes = append(cl.Causes, cc)
			if rc == nil || !rc.Known {
				known = false
			}
			if !slices.Contains(texts, text) {
				texts = append(texts, text)
			}
		}
		if slices.Contains(texts, "everywhere") {
			texts = []string{"everywhere"} // the other causes' places are in "everywhere"
		}
		cl.State, cl.Text = cellFail, "✗ "+strings.Join(texts, "; ")
		if known {
			cl.State, cl.Text = cellKnown, "✗ (known) "+strings.Join(texts, "; ")
		}
		return cl
	}
	switch {
	case pass > 0 && len(cl.Errors) > 0:
		cl.State, cl.Text = cellPass, fmt.Sprintf("✓ (%d ERROR)", len(cl.Errors))
	case pass > 0:
		cl.State, cl.Text = cellPass, "✓"
	case len(cl.Errors) > 0:
		cl.State, cl.Text = cellError, "ERROR"
	default:
		cl.State, cl.Text = cellSkip, "skip"
	}
	return cl
}

func topologiesOf(rs []result.Result) []string {
	var out []string
	for _, r := range rs {
		addUnique(&out, r.Topology)
	}
	slices.Sort(out)
	return out
}

func placesOf(rs []result.Result) []place {
	var out []place
	for _, r := range rs {
		out = append(out, placeOf(r))
	}
	return out
}

// versionNotes compares, for each loader with several versions in the
// table, every version's outcome on the places all of them ran, and says
// where it changes: "cilium-ebpf: ✓ v0.9.1–v0.15.0; ✗ sparse online since
// v0.16.0 (compared on debian-6.1: sparse, sparse-high)".
func versionNotes(row compatRow, cols []compatColumn, causeOf map[cellKey]*Cause, classify Classifier) []string {
	byBase := map[string][]int{}
	var bases []string
	for i, col := range cols {
		b := result.ParseLoaderName(col.Loader).Base
		if byBase[b] == nil {
			bases = append(bases, b)
		}
		byBase[b] = append(byBase[b], i)
	}
	var notes []string
	for _, b := range bases {
		idx := byBase[b]
		if len(idx) < 2 {
			continue
		}
		// The places every version ran this requirement.
		var common map[place]bool
		for _, i := range idx {
			ps := map[place]bool{}
			for _, r := range row.Cells[i].Results {
				ps[placeOf(r)] = true
			}
			if common == nil {
				common = ps
				continue
			}
			for p := range common {
				if !ps[p] {
					delete(common, p)
				}
			}
		}
		if len(common) == 0 {
			continue
		}
		var outcomes, versions []string
		for _, i := range idx {
			var rs []result.Result
			for _, r := range row.Cells[i].Results {
				if common[placeOf(r)] {
					rs = append(rs, r)
				}
			}
			c := buildCell(row.Requirement, cols[i].Loader, rs, causeOf, classify)
			outcomes = append(outcomes, c.Text)
			versions = append(versions, result.ParseLoaderName(cols[i].Loader).Version)
		}
		if len(slices.Compact(slices.Clone(outcomes))) == 1 {
			continue
		}
		var parts []string
		for i := 0; i < len(outcomes); {
			j := i
			for j+1 < len(outcomes) && outcomes[j+1] == outcomes[i] {
				j++
			}
			var span string
			switch {
			case i > 0 && j == len(outcomes)-1:
				span = "since " + versions[i]
			case i == 0 && j < len(outcomes)-1:
				span = "until " + versions[j]
			case i == j:
				span = "in " + versions[i]
			default:
				span = versions[i] + "–" + versions[j]
			}
			parts = append(parts, outcomes[i]+" "+span)
			i = j + 1
		}
		var places []place
		for p := range common {
			places = append(places, p)
		}
		notes = append(notes, fmt.Sprintf("%s: %s (compared where every version ran: %s)", b, strings.Join(parts, "; "),
			whereText(places, nil, scope{})))
	}
	return notes
}

// applyLevels sets every result whose requirement levels knows to its
// current level and returns what changed, e.g. "SIZE-KV-DEFAULT: MUST →
// SHOULD (123 results)", sorted.
func applyLevels(c *Results, levels map[string]result.Level) []string {
	if len(levels) == 0 {
		return nil
	}
	changed := map[string]int{}
	set := func(r *result.Result) bool {
		l, ok := levels[r.Requirement]
		if !ok || l == r.Level {
			return false
		}
		changed[fmt.Sprintf("%s: %s → %s", r.Requirement, r.Level, l)]++
		r.Level = l
		return true
	}
	for i := range c.Results {
		set(&c.Results[i])
	}
	for i := range c.Conflicts {
		cf := &c.Conflicts[i]
		cf.Outcomes = slices.Clone(cf.Outcomes)
		for j := range cf.Outcomes {
			o := cf.Outcomes[j]
			if l, ok := levels[o.Requirement]; ok {
				cf.Outcomes[j].Level = l
			}
		}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(changed)) {
		out = append(out, fmt.Sprintf("%s (%d results)", k, changed[k]))
	}
	return out
}
