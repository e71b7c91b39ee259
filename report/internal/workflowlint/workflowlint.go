// Package workflowlint checks GitHub Actions workflow files with the
// actionlint library, so that the project's CI and the reusable workflow
// loader projects call are validated by `go test` like the code they run.
// shellcheck and pyflakes are not run: results must not depend on which
// tools the machine has.
package workflowlint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
)

// ErrNoWorkflows: the directory holds no workflow files.
var ErrNoWorkflows = errors.New("no workflow files")

// Files returns the workflow files (*.yml, *.yaml) in dir, sorted.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("workflows: %w", err)
	}
	var out []string
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yml" || ext == ".yaml") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("workflows: %s: %w", dir, ErrNoWorkflows)
	}
	sort.Strings(out)
	return out, nil
}

// Lint lints the workflow content as if it were the file at path and returns
// actionlint's findings. path is also used to find the repository (for
// local reusable workflows and actions).
func Lint(path string, content []byte) ([]*actionlint.Error, error) {
	return lint(path, content, nil)
}

// LintInRepo lints content as the workflow file name in the repository at
// root (which need not exist), so the local reusable workflows it calls
// (uses: ./.github/workflows/...) are read and its inputs checked against
// theirs.
func LintInRepo(root, name string, content []byte) ([]*actionlint.Error, error) {
	p, err := actionlint.NewProject(root)
	if err != nil {
		return nil, fmt.Errorf("actionlint project %s: %w", root, err)
	}
	return lint(filepath.Join(p.WorkflowsDir(), name), content, p)
}

func lint(path string, content []byte, project *actionlint.Project) ([]*actionlint.Error, error) {
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{
		Color: actionlint.ColorOptionKindNever,
		// Empty Shellcheck and Pyflakes turn those integrations off.
	})
	if err != nil {
		return nil, fmt.Errorf("actionlint: %w", err)
	}
	errs, err := l.Lint(path, content, project)
	if err != nil {
		return nil, fmt.Errorf("actionlint %s: %w", path, err)
	}
	return errs, nil
}

// LintFile lints the workflow file at path.
func LintFile(path string) ([]*actionlint.Error, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workflows: %w", err)
	}
	return Lint(path, content)
}

// Format renders findings one per line as actionlint prints them:
// "file:line:col: message [kind]".
func Format(errs []*actionlint.Error) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "%s:%d:%d: %s [%s]\n", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
	return b.String()
}
