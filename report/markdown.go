package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/result"
)

// WriteMarkdown writes report.md, section by section (markdownSections):
// the header; a per-loader summary of what fails where, with one line of
// evidence each; per kernel, the compatibility matrix (loaders ×
// topologies) whose cells count outcomes by level and name the requirements
// that failed, and the runs behind it; then the findings (FAILs and ERRORs
// not covered by a baseline, grouped by loader, requirement and outcome with
// the places listed and one representative evidence line, MUST first), known
// deviations, run errors with their console tail, and merge conflicts.
func WriteMarkdown(w io.Writer, r *Results, opts Options) error {
	m := buildModel(r, opts)
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	for _, section := range markdownSections {
		section(p, m)
	}
	return bw.Flush()
}

// markdownSections are report.md's sections in order; a new section is a
// new entry here (and a template in report.html.tmpl).
var markdownSections = []func(p func(string, ...any), m *model){
	mdHeader, mdCompat, mdSummary, mdCauses, mdMatrices, mdVersionHistory, mdFindings, mdKnown, mdRunErrors, mdConflicts,
}

func mdHeader(p func(string, ...any), m *model) {
	p("# perfconform compatibility report\n\n")
	p("Generated %s from %d results of %d runs (results.json schema %d).\n\n", m.Generated, m.NResults, m.NRuns, m.Schema)
	p("%s\n\n", mdText(m.Setup))
	if len(m.LevelChanges) > 0 {
		p("Levels are the suite's current ones; these results were judged at another level: %s.\n\n",
			mdText(strings.Join(m.LevelChanges, "; ")))
	}
}

func mdCompat(p func(string, ...any), m *model) {
	t := m.Compat
	if t == nil || len(t.Columns) == 0 {
		return
	}
	p("## Compatibility\n\n")
	p("Requirements (by level) × loader versions in release order. ✓: passed everywhere it ran; ✗: failed, with the ")
	p("topology classes where (derived from the CPU masks of the places it failed and passed: \"sparse online\" is an ")
	p("online list with a gap, \"gapped possible\" a possible list with one, \"possible > online\" offline possible ")
	p("CPUs, \"possible > present\" hotplug slots, \"present offline\" a present CPU offline) or the topologies when ")
	p("no class tells them apart; –: not run. The root causes below say why; report.html opens each cell to its ")
	p("evidence.\n\n")
	p("| requirement |")
	for _, c := range t.Columns {
		p(" %s |", mdText(c.Label))
	}
	p("\n|---|")
	for range t.Columns {
		p("---|")
	}
	p("\n")
	for _, g := range t.Groups {
		p("| **%s** |%s\n", g.Level, strings.Repeat(" |", len(t.Columns)))
		for _, row := range g.Rows {
			p("| %s |", mdText(row.Requirement))
			for _, c := range row.Cells {
				p(" %s |", mdText(c.Text))
			}
			p("\n")
		}
	}
	p("\n")
	var notes []string
	for _, g := range t.Groups {
		for _, row := range g.Rows {
			for _, n := range row.Notes {
				notes = append(notes, fmt.Sprintf("- `%s` (%s) %s", row.Requirement, row.Level, mdText(n)))
			}
		}
	}
	if len(notes) > 0 {
		p("Across versions (since/until):\n\n%s\n\n", strings.Join(notes, "\n"))
	}
	p("Where each column ran: %s.\n\n", mdText(strings.Join(t.Coverage, "; ")))
}

func mdSummary(p func(string, ...any), m *model) {
	if len(m.Summary) == 0 {
		return
	}
	p("## Summary\n\n")
	p("Each loader's failures by root cause: one cause is one bug, listed once with every requirement it takes down, ")
	p("the versions it was seen in, where it bites and what upstream knows (reports/upstream.json).\n\n")
	p("| loader | cause | level: requirements | versions | where it bites | upstream | evidence |\n|---|---|---|---|---|---|---|\n")
	for _, s := range m.Summary {
		name := mdText(s.Loader)
		if v := s.VersionText(); v != "" {
			name += " " + mdText(v)
		}
		if len(s.Causes) == 0 {
			p("| %s | none | — | — | — | — | — |\n", name)
			name = ""
		}
		for _, c := range s.Causes {
			reqs := mdText(c.LevelText())
			if c.Known {
				reqs += " (known deviation)"
			}
			p("| %s | [%s](#%s) | %s | %s | %s | %s | %s |\n", name, c.ID, strings.ToLower(c.ID), reqs, mdText(c.Versions()),
				mdText(c.Bites), mdText(c.UpstreamText()), mdText(c.Evidence()))
			name = ""
		}
		if s.Errors > 0 {
			p("| %s | ERROR: %s could not run (not a verdict) | | | %s | | see Findings |\n", name, s.ErrorCount(), mdText(s.ErrorWhere))
		}
	}
	p("\n")
}

func mdCauses(p func(string, ...any), m *model) {
	if len(m.Causes) == 0 && len(m.KnownCauses) == 0 {
		return
	}
	p("## Root causes\n\n")
	p("FAILs of one loader that share the stage and the error text once CPU numbers, sizes, paths and map names are ")
	p("taken out are one cause. Each lists the requirements it takes down, the versions, where it bites, the upstream ")
	p("status and the evidence of one result (the newest version's; every result is in results.json and report.html).\n\n")
	for _, c := range append(slices.Clone(m.Causes), m.KnownCauses...) {
		p("<a id=\"%s\"></a>**%s** %s — %s (%s) — bites: %s — seen on %s\n", strings.ToLower(c.ID), c.ID, mdText(c.Versions()),
			mdText(c.LevelText()), mdText(c.Count()), mdText(c.Bites), mdText(c.Where))
		if c.Stage != "" {
			p("- Stage: %s\n", mdText(c.Stage))
		}
		ev := cpuErrno(c.Rep)
		if d := c.Detail(); d != "" {
			ev = strings.TrimPrefix(ev+" — "+d, " — ")
		}
		p("- Evidence (%s, %s): %s\n", mdText(c.Rep.Loader), mdText(placeText(c.Rep)), mdText(ev))
		p("- Upstream: %s\n", mdText(c.UpstreamText()))
		if c.Reason != "" {
			p("- Known deviation: %s\n", mdText(c.Reason))
		}
		p("- For %s users: %s\n\n", mdText(c.Base), mdText(c.Impact))
	}
}

func mdMatrices(p func(string, ...any), m *model) {
	p("## Matrix\n\n")
	p("Each cell counts outcomes by requirement level and names the requirements that failed or errored. FAIL (MUST): ")
	p("the loader breaks a MUST on that topology; FAIL (known): only failures its baseline accepts; ERROR: a check could ")
	p("not run, which says nothing about the loader.\n\n")
	if len(m.Kernels) == 0 {
		p("No results.\n\n")
	}
	for _, k := range m.Kernels {
		p("### Kernel %s", mdText(k.Name))
		if k.Versions != "" {
			p(" (%s)", mdText(k.Versions))
		}
		p("\n\n")
		p("| loader |")
		for _, t := range k.Topologies {
			p(" %s |", mdText(k.TopologyLabel(t)))
		}
		p("\n|---|")
		for range k.Topologies {
			p("---|")
		}
		p("\n")
		for _, row := range k.Rows {
			p("| %s", mdText(row.Loader))
			if row.Versions != "" {
				p(" %s", mdText(row.Versions))
			}
			p(" |")
			for _, c := range row.Cells {
				p(" **%s**", c.Label())
				for _, line := range c.CountLines() {
					p("<br>%s", mdText(line))
				}
				p(" |")
			}
			p("\n")
		}
		p("\n")
		if len(k.Runs) > 0 {
			p("| topology | requested | realized masks | accelerator | loaders | boot | duration | run error |\n")
			p("|---|---|---|---|---|---|---|---|\n")
			for _, run := range k.Runs {
				realized := maskText(run.Masks)
				runErr := dash(firstLine(run.Error))
				switch {
				case run.NotRealizable != "":
					realized = "not realizable on this kernel"
					runErr = "not booted: " + firstLine(run.NotRealizable)
				case !run.Realized:
					realized += " (**not realized**)"
				}
				if run.Retried != "" {
					runErr = strings.TrimPrefix(runErr+"; ", "—; ") + "retried once: first attempt " + firstLine(run.Retried)
				}
				p("| %s | %s | %s | %s | %s | %s | %s | %s |\n",
					mdText(k.TopologyLabel(run.Topology)), mdText(maskText(run.Requested)), realized, mdText(dash(run.Accelerator)),
					mdText(loaderList(run.Loaders)), durText(run.Boot), durText(run.Duration), mdText(runErr))
			}
			p("\n")
		}
	}
}

func mdFindings(p func(string, ...any), m *model) {
	p("## Findings\n\n")
	if len(m.Findings) == 0 {
		p("No ERROR outside the baselines (FAILs are under Root causes).\n\n")
		return
	}
	p("The ERRORs (checks that could not run: not a verdict on the loader; FAILs are under Root causes), grouped by ")
	p("loader, requirement and outcome, MUST first; each lists where it was seen and the evidence of one result.\n\n")
	for _, g := range m.Findings {
		writeFinding(p, g)
	}
	p("\n")
}

func mdKnown(p func(string, ...any), m *model) {
	if len(m.Known) == 0 {
		return
	}
	p("## Known deviations\n\nFailures the loader's baseline accepts; they do not gate.\n\n")
	for _, g := range m.Known {
		writeFinding(p, g)
	}
	p("\n")
}

func mdRunErrors(p func(string, ...any), m *model) {
	if len(m.RunErrors) == 0 {
		return
	}
	p("## Run errors\n\n")
	for _, run := range m.RunErrors {
		p("### %s / %s", mdText(run.Kernel.Name), mdText(run.Topology))
		if run.Host != "" {
			p(" on %s", mdText(run.Host))
		}
		p("\n\n%s\n\n", mdText(strings.TrimSpace(run.Error)))
		if len(run.ConsoleTail) > 0 {
			p("Console tail:\n\n%s\n\n", codeBlock(strings.Join(run.ConsoleTail, "\n")))
		}
	}
}

func mdConflicts(p func(string, ...any), m *model) {
	if len(m.Conflicts) == 0 {
		return
	}
	p("## Conflicts\n\nMerged inputs disagreed on these cells; the worst status is counted.\n\n")
	for _, c := range m.Conflicts {
		var seen []string
		for _, o := range c.Outcomes {
			s := string(o.Status)
			if d := firstLine(o.Detail); d != "" {
				s += ": " + d
			}
			seen = append(seen, s)
		}
		p("- `%s` %s / %s / %s: kept **%s**; seen %s\n", c.Requirement, mdText(c.Kernel), mdText(c.Topology),
			mdText(c.Loader), c.Kept, mdText(strings.Join(seen, "; ")))
	}
	p("\n")
}

func writeFinding(p func(string, ...any), g findingGroup) {
	p("- **%s** %s (%s) — %s — %s on %s\n", g.Status, mdCodeList(g.Requirements), g.Levels(), mdText(g.Loader()),
		g.Count(), mdText(g.Where))
	ev := g.Evidence()
	if d := g.Detail(); d != "" {
		ev = strings.TrimPrefix(ev+" — "+d, " — ")
	}
	if ev != "" {
		p("  - Evidence (%s): %s\n", mdText(g.RepPlace()), mdText(ev))
	}
	if g.Reason != "" {
		p("  - Known deviation: %s\n", mdText(g.Reason))
	}
	p("  - For %s users: %s\n", mdText(g.Loader()), mdText(g.Impact))
}

// mdCodeList writes IDs as code spans: `A`, `B`.
func mdCodeList(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, "`"+strings.ReplaceAll(id, "`", "")+"`")
	}
	return strings.Join(out, ", ")
}

// mdText escapes characters that Markdown would interpret, and folds lines.
func mdText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func codeBlock(s string) string {
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	return fence + "text\n" + s + "\n" + fence
}

func maskText(m *result.Masks) string {
	if m == nil {
		return "—"
	}
	return fmt.Sprintf("possible %s, present %s, online %s", dash(m.Possible), dash(m.Present), dash(m.Online)) + affinityText(m)
}

// affinityText names the CPUs the loader was restricted to, if it was.
func affinityText(m *result.Masks) string {
	if m == nil || m.Affinity == "" {
		return ""
	}
	return ", loader affinity " + m.Affinity
}

func loaderList(ls []Loader) string {
	var parts []string
	for _, l := range ls {
		if l.Version != "" {
			parts = append(parts, l.Name+" "+l.Version)
		} else {
			parts = append(parts, l.Name)
		}
	}
	return dash(strings.Join(parts, ", "))
}

func durText(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return d.Round(100 * time.Millisecond).String()
}
