package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/perfconform/perfconform/result"
)

// WriteMarkdown writes report.md: per kernel, the compatibility matrix
// (loaders × topologies) with PASS/FAIL/ERROR/SKIP counts by level and the
// runs behind it; then the findings (every FAIL and ERROR not covered by a
// baseline, with requirement, CPU, errno, masks and what it means for users),
// known deviations, run errors with their console tail, and merge conflicts.
func WriteMarkdown(w io.Writer, r *Results, opts Options) error {
	m := buildModel(r, opts)
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	p("# perfconform compatibility report\n\n")
	p("Generated %s from %d results of %d runs (results.json schema %d).\n\n", m.Generated, m.NResults, m.NRuns, m.Schema)
	p("%s\n\n", mdText(m.Setup))
	p("Each cell counts outcomes by requirement level. FAIL (MUST): the loader breaks a MUST on that topology; ")
	p("FAIL (known): only failures its baseline accepts; ERROR: a check could not run, which says nothing about the loader.\n\n")
	if len(m.Kernels) == 0 {
		p("No results.\n")
	}
	for _, k := range m.Kernels {
		p("## Kernel %s", mdText(k.Name))
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
					p("<br>%s", line)
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

	p("## Findings\n\n")
	if len(m.Findings) == 0 {
		p("No FAIL or ERROR outside the baselines.\n\n")
	}
	for _, f := range m.Findings {
		writeFinding(p, f)
	}
	if len(m.Findings) > 0 {
		p("\n")
	}
	if len(m.Known) > 0 {
		p("## Known deviations\n\nFailures the loader's baseline accepts; they do not gate.\n\n")
		for _, f := range m.Known {
			writeFinding(p, f)
		}
		p("\n")
	}
	if len(m.RunErrors) > 0 {
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
	if len(m.Conflicts) > 0 {
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
	return bw.Flush()
}

func writeFinding(p func(string, ...any), f finding) {
	r := f.Result
	p("- **%s** `%s` (%s) — %s on %s / %s", r.Status, r.Requirement, r.Level, mdText(r.Loader), mdText(r.Kernel), mdText(r.Topology))
	if e := f.Evidence(); e != "" {
		p(" — %s", mdText(e))
	}
	p("\n")
	if d := strings.TrimSpace(r.Detail); d != "" {
		p("  - Detail: %s\n", mdText(strings.Join(strings.Fields(d), " ")))
	}
	if f.Reason != "" {
		p("  - Known deviation: %s\n", mdText(f.Reason))
	}
	p("  - For %s users: %s\n", mdText(r.Loader), mdText(f.Impact))
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
	return fmt.Sprintf("possible %s, present %s, online %s", dash(m.Possible), dash(m.Present), dash(m.Online))
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
