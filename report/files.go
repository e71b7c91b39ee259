package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteAll writes results.json, junit.xml, report.md and report.html into
// dir, creating it if needed. Each file is written whole or not at all.
func WriteAll(dir string, r *Results, opts Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report directory: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{ResultsFile, func(w io.Writer) error { return Write(w, r) }},
		{JUnitFile, func(w io.Writer) error { return WriteJUnit(w, r, opts) }},
		{MarkdownFile, func(w io.Writer) error { return WriteMarkdown(w, r, opts) }},
		{HTMLFile, func(w io.Writer) error { return WriteHTML(w, r, opts) }},
	}
	for _, f := range files {
		var buf bytes.Buffer
		path := filepath.Join(dir, f.name)
		if err := f.write(&buf); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// LoadImpacts reads a JSON object mapping requirement IDs to one line on what
// a FAIL means for a loader's users, for Options.Impacts.
func LoadImpacts(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("impacts: %w", err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("impacts %s: want a JSON object of requirement ID to text: %w", path, err)
	}
	return m, nil
}
