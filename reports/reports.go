// Package reports is the committed compatibility report as data: the
// results.json that reports/report.md and report.html are rendered from, and
// upstream.json, the maintained map from findings to upstream issues, both
// embedded so that `conform doctor` and `conform report merge` work offline
// from the binary alone.
package reports

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/perfconform/perfconform/report"
)

//go:embed results.json
var resultsJSON []byte

//go:embed upstream.json
var upstreamJSON []byte

// Results returns the committed results (reports/results.json as built in).
func Results() (*report.Results, error) {
	r, err := report.Read(bytes.NewReader(resultsJSON))
	if err != nil {
		return nil, fmt.Errorf("built-in reports/results.json: %w", err)
	}
	return r, nil
}

// Upstream returns the built-in reports/upstream.json.
func Upstream() (*report.Upstream, error) {
	u, err := report.ParseUpstream(upstreamJSON)
	if err != nil {
		return nil, fmt.Errorf("built-in reports/upstream.json: %w", err)
	}
	return u, nil
}
