package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"firstLine":  firstLine,
	"join":       strings.Join,
	"durText":    durText,
	"maskText":   maskText,
	"loaderList": loaderList,
	"inc":        func(n int) int { return n + 1 },
	"cpuErrno":   cpuErrno,
	"label":      func(v string) string { return verdictLabels[v] },
	"verdicts": func() []string {
		return []string{verdictFailMust, verdictFail, verdictError, verdictRunError, verdictKnown, verdictPass, verdictSkip, verdictNotRun}
	},
}).Parse(htmlSource))

// WriteHTML writes report.html: one self-contained page (inline CSS and
// script, no external assets) with the sections of report.md: the per-loader
// summary, the matrix of each kernel as a coloured grid that fits the
// window's width and whose cells open to every requirement's outcome
// (failures first), the grouped findings, known deviations, run errors and
// conflicts.
func WriteHTML(w io.Writer, r *Results, opts Options) error {
	if err := htmlTemplate.Execute(w, buildModel(r, opts)); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}
