package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/perfconform/perfconform/result"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"evidence":   evidence,
	"firstLine":  firstLine,
	"join":       strings.Join,
	"durText":    durText,
	"maskText":   maskText,
	"loaderList": loaderList,
	"cpuErrno":   func(r result.Result) string { r.Masks = nil; return evidence(r) },
	"label":      func(v string) string { return verdictLabels[v] },
	"verdicts": func() []string {
		return []string{verdictFailMust, verdictFail, verdictError, verdictRunError, verdictKnown, verdictPass, verdictSkip, verdictNotRun}
	},
}).Parse(htmlSource))

// WriteHTML writes report.html: one self-contained page (inline CSS and
// script, no external assets) with the matrix of each kernel as a coloured
// grid whose cells open to the per-requirement outcomes, followed by the
// findings, known deviations, run errors and conflicts of report.md.
func WriteHTML(w io.Writer, r *Results, opts Options) error {
	if err := htmlTemplate.Execute(w, buildModel(r, opts)); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}
