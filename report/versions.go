package report

import (
	"cmp"
	"fmt"
	"html"
	"html/template"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/perfconform/perfconform/result"
)

// The version history: for every loader that ran at two or more versions
// ("cilium-ebpf@v0.9.1" … "cilium-ebpf@v0.22.0", "libbpf@1.1" and
// "libbpf@1.4"), requirement × version on each kernel and topology where at
// least two of its versions ran, so a reader sees in which release a
// behaviour appeared or changed. It is its own section of report.md
// (mdVersionHistory) and report.html (model.VersionHistoryHTML); the rest of
// the report does not depend on it.

// versionHistory is one loader's history.
type versionHistory struct {
	Base     string // "cilium-ebpf"
	Versions []string
	Kernels  []versionKernel
}

type versionKernel struct {
	Kernel string
	// Topologies where two or more versions ran.
	Topologies []string
	Rows       []versionRow
	// Uniform counts the (topology, requirement) rows every version passed.
	Uniform int
}

// versionRow is one requirement on one topology: an outcome per version
// ("" where that version did not run).
type versionRow struct {
	Topology, Requirement string
	Level                 result.Level
	Cells                 []*result.Result
}

// versionHistories builds the history of every loader that ran at two or
// more versions, by base name.
func versionHistories(r *Results) []versionHistory {
	c := canonical(r)
	versions := map[string][]string{} // base -> versions seen
	for _, res := range c.Results {
		n := result.ParseLoaderName(res.Loader)
		if n.Version != "" && !slices.Contains(versions[n.Base], n.Version) {
			versions[n.Base] = append(versions[n.Base], n.Version)
		}
	}
	var out []versionHistory
	for _, base := range slices.Sorted(maps.Keys(versions)) {
		vs := versions[base]
		if len(vs) < 2 {
			continue
		}
		slices.SortFunc(vs, compareVersions)
		if h := historyOf(c, base, vs); len(h.Kernels) > 0 {
			out = append(out, h)
		}
	}
	return out
}

func historyOf(c *Results, base string, vs []string) versionHistory {
	h := versionHistory{Base: base, Versions: vs}
	type rowKey struct{ kernel, topology, req string }
	rows := map[rowKey]*versionRow{}
	var order []rowKey
	ran := map[[2]string]map[string]bool{} // (kernel, topology) -> versions
	var kernels []string
	for i := range c.Results {
		res := &c.Results[i]
		n := result.ParseLoaderName(res.Loader)
		vi := slices.Index(vs, n.Version)
		if n.Base != base || vi < 0 {
			continue
		}
		kt := [2]string{res.Kernel, res.Topology}
		if ran[kt] == nil {
			ran[kt] = map[string]bool{}
		}
		ran[kt][n.Version] = true
		if !slices.Contains(kernels, res.Kernel) {
			kernels = append(kernels, res.Kernel)
		}
		k := rowKey{res.Kernel, res.Topology, res.Requirement}
		row := rows[k]
		if row == nil {
			row = &versionRow{Topology: res.Topology, Requirement: res.Requirement, Level: res.Level, Cells: make([]*result.Result, len(vs))}
			rows[k] = row
			order = append(order, k)
		}
		row.Cells[vi] = res
	}
	for _, kernel := range kernels {
		kv := versionKernel{Kernel: kernel}
		for _, k := range order {
			if k.kernel != kernel || len(ran[[2]string{k.kernel, k.topology}]) < 2 {
				continue
			}
			if !slices.Contains(kv.Topologies, k.topology) {
				kv.Topologies = append(kv.Topologies, k.topology)
			}
			row := rows[k]
			if row.allPass() {
				kv.Uniform++
				continue
			}
			kv.Rows = append(kv.Rows, *row)
		}
		if len(kv.Topologies) > 0 {
			h.Kernels = append(h.Kernels, kv)
		}
	}
	return h
}

func (r versionRow) allPass() bool {
	for _, c := range r.Cells {
		if c == nil || c.Status != result.Pass {
			return false
		}
	}
	return true
}

// outcome is a cell's short text: the status, with the CPU and errno of a
// FAIL or ERROR.
func outcome(r *result.Result) string {
	if r == nil {
		return "—"
	}
	s := string(r.Status)
	if r.Status == result.Fail || r.Status == result.Error {
		var ev []string
		if r.CPU != nil {
			ev = append(ev, fmt.Sprintf("CPU %d", *r.CPU))
		}
		if r.Errno != "" {
			ev = append(ev, r.Errno)
		}
		if len(ev) > 0 {
			s += " (" + strings.Join(ev, ", ") + ")"
		}
	}
	return s
}

// changes describes a row as runs of consecutive versions with the same
// outcome and evidence, each with its evidence: "v0.9.1–v0.15.0 PASS;
// v0.16.0–v0.22.0 FAIL (CPU 2, ENOENT): …". Two failures with the same
// status but different evidence (refused at load vs at the reader) are two
// runs.
func (r versionRow) changes(vs []string) string {
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && sameOutcome(r.Cells[i], r.Cells[j+1]) {
			j++
		}
		span := vs[i]
		if j > i {
			span += "–" + vs[j]
		}
		text := span + " " + outcome(r.Cells[i])
		switch c := r.Cells[i]; {
		case c == nil:
			text = span + " not run"
		case c.Status != result.Pass && c.Detail != "":
			text += ": " + shorten(firstLine(c.Detail), 160)
		}
		parts = append(parts, text)
		i = j + 1
	}
	return strings.Join(parts, "; ")
}

// scratchTail is what shorten leaves of a scratch path; the file names in
// it (progs-PID, NNN-requirement) differ between runs of the same failure.
var scratchTail = regexp.MustCompile(`…/\S*`)

// sameOutcome: both missing, or the same status, CPU, errno and evidence.
func sameOutcome(a, b *result.Result) bool {
	if a == nil || b == nil {
		return a == b
	}
	evidence := func(r *result.Result) string {
		return scratchTail.ReplaceAllString(shorten(firstLine(r.Detail), 160), "…")
	}
	return outcome(a) == outcome(b) && (a.Status == result.Pass || evidence(a) == evidence(b))
}

// compareVersions orders loader versions numerically ("v0.9.1" < "v0.11.0",
// "1.4" < "1.10"), falling back to text for non-numeric parts.
func compareVersions(a, b string) int {
	pa := strings.FieldsFunc(strings.TrimPrefix(a, "v"), func(r rune) bool { return r == '.' || r == '-' })
	pb := strings.FieldsFunc(strings.TrimPrefix(b, "v"), func(r rune) bool { return r == '.' || r == '-' })
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		var c int
		if ea == nil && eb == nil {
			c = cmp.Compare(na, nb)
		} else {
			c = strings.Compare(pa[i], pb[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(pa), len(pb))
}

// mdVersionHistory writes the "LOADER across releases" sections of
// report.md; nothing when no loader ran at two or more versions.
func mdVersionHistory(p func(string, ...any), m *model) {
	for _, h := range m.Versions {
		title := h.Base
		if h.Base == "cilium-ebpf" {
			title = "cilium/ebpf"
		}
		p("## %s across releases\n\n", mdText(title))
		p("Each row is a requirement on a topology where two or more of %s's versions ran (%s) and at least one "+
			"did not pass; the rest passed on every version. A cell is the outcome, with the CPU and errno of a "+
			"failure; the line under the table says where the outcome changed, with the evidence. The full "+
			"detail of every failure is under Findings.\n\n", mdText(h.Base), mdText(strings.Join(h.Versions, ", ")))
		for _, k := range h.Kernels {
			p("### %s on kernel %s (topologies: %s)\n\n", mdText(title), mdText(k.Kernel), mdText(strings.Join(k.Topologies, ", ")))
			if len(k.Rows) == 0 {
				p("Every version passed every requirement on these topologies (%d rows).\n\n", k.Uniform)
				continue
			}
			p("| topology | requirement |")
			for _, v := range h.Versions {
				p(" %s |", mdText(v))
			}
			p("\n|---|---|")
			for range h.Versions {
				p("---|")
			}
			p("\n")
			for _, row := range k.Rows {
				p("| %s | %s %s |", mdText(row.Topology), mdText(row.Requirement), mdText(string(row.Level)))
				for _, c := range row.Cells {
					p(" %s |", mdText(outcome(c)))
				}
				p("\n")
			}
			p("\n%d other (topology, requirement) rows passed on every version.\n\n", k.Uniform)
			for _, row := range k.Rows {
				p("- **%s %s**: %s\n", mdText(row.Topology), mdText(row.Requirement), mdText(row.changes(h.Versions)))
			}
			p("\n")
		}
	}
}

// VersionHistoryHTML is the same sections for report.html.
func (m *model) VersionHistoryHTML() template.HTML {
	var b strings.Builder
	e := html.EscapeString
	for _, h := range m.Versions {
		title := h.Base
		if h.Base == "cilium-ebpf" {
			title = "cilium/ebpf"
		}
		fmt.Fprintf(&b, "<h2>%s across releases</h2>\n<p class=\"muted\">Requirements on topologies where two or more of %s's versions ran (%s) "+
			"that did not pass on every version; the rest passed everywhere. Full details under Findings.</p>\n",
			e(title), e(h.Base), e(strings.Join(h.Versions, ", ")))
		for _, k := range h.Kernels {
			fmt.Fprintf(&b, "<h3>%s on kernel %s <span class=\"muted\">(topologies: %s)</span></h3>\n", e(title), e(k.Kernel), e(strings.Join(k.Topologies, ", ")))
			if len(k.Rows) == 0 {
				fmt.Fprintf(&b, "<p>Every version passed every requirement on these topologies (%d rows).</p>\n", k.Uniform)
				continue
			}
			b.WriteString("<table class=\"versions\"><thead><tr><th>topology</th><th>requirement</th>")
			for _, v := range h.Versions {
				fmt.Fprintf(&b, "<th>%s</th>", e(v))
			}
			b.WriteString("</tr></thead><tbody>\n")
			for _, row := range k.Rows {
				fmt.Fprintf(&b, "<tr><td>%s</td><td><code>%s</code> (%s)</td>", e(row.Topology), e(row.Requirement), e(string(row.Level)))
				for _, c := range row.Cells {
					st := "none"
					if c != nil {
						st = string(c.Status)
					}
					fmt.Fprintf(&b, "<td class=\"st-%s\">%s</td>", e(st), e(outcome(c)))
				}
				b.WriteString("</tr>\n")
			}
			fmt.Fprintf(&b, "</tbody></table>\n<p class=\"muted\">%d other (topology, requirement) rows passed on every version.</p>\n<ul>\n", k.Uniform)
			for _, row := range k.Rows {
				fmt.Fprintf(&b, "<li><strong>%s <code>%s</code></strong>: %s</li>\n", e(row.Topology), e(row.Requirement), e(row.changes(h.Versions)))
			}
			b.WriteString("</ul>\n")
		}
	}
	return template.HTML(b.String())
}
