package workflowlint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report/internal/workflowlint"
)

// workflowsDir is the repository's .github/workflows, from this package.
const workflowsDir = "../../../.github/workflows"

// repoRoot is the repository, from this package.
const repoRoot = "../../.."

func TestRepositoryWorkflows(t *testing.T) {
	files, err := workflowlint.Files(workflowsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			errs, err := workflowlint.LintFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) > 0 {
				t.Errorf("actionlint:\n%s", workflowlint.Format(errs))
			}
		})
	}
}

// The linter is live: known mistakes in workflows are reported.
func TestLintFindsMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, workflow, want string
	}{
		{"undefined matrix key", `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        kernel: [debian-6.1]
    steps:
      - run: echo ${{ matrix.topology }}
`, `property "topology" is not defined`},
		{"missing runs-on", `on: push
jobs:
  a:
    steps:
      - run: echo hi
`, `"runs-on" section is missing`},
		{"unknown workflow_call input", `on:
  workflow_call:
    inputs:
      loader:
        type: string
        required: true
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo ${{ inputs.loadr }}
`, `property "loadr" is not defined`},
		{"bad needs", `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    needs: nothere
    steps:
      - run: echo hi
`, `job "a" needs job "nothere" which does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.yml")
			if err := os.WriteFile(path, []byte(tc.workflow), 0o644); err != nil {
				t.Fatal(err)
			}
			errs, err := workflowlint.LintFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := workflowlint.Format(errs); !strings.Contains(got, tc.want) {
				t.Errorf("actionlint found:\n%s\nwant a finding containing %q", got, tc.want)
			}
		})
	}
}

func TestFilesRejectsEmptyDir(t *testing.T) {
	if _, err := workflowlint.Files(t.TempDir()); err == nil {
		t.Fatal("Files of an empty dir: no error")
	}
}

// The caller examples in docs/CI.md are valid workflows of under ten lines
// each, and call conform-loader.yml with inputs it declares: each is linted
// as if it lived in this repository with its uses: pointing at the local
// reusable workflow, so actionlint checks the inputs against that file.
func TestCIDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/CI.md")
	if err != nil {
		t.Fatal(err)
	}
	const remote = "perfconform/perfconform/.github/workflows/conform-loader.yml@main"
	var n int
	for i, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "jobs:") {
			continue
		}
		n++
		if lines := strings.Count(block, "\n"); lines >= 10 {
			t.Errorf("docs/CI.md yaml block %d has %d lines, want under ten", i+1, lines)
		}
		if !strings.Contains(block, "uses: "+remote) {
			t.Errorf("docs/CI.md yaml block %d does not call %s", i+1, remote)
		}
		local := strings.ReplaceAll(block, remote, "./.github/workflows/conform-loader.yml")
		errs, err := workflowlint.LintInRepo(repoRoot, "ci-md-example.yml", []byte(local))
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Errorf("docs/CI.md yaml block %d:\n%s", i+1, workflowlint.Format(errs))
		}
	}
	if n < 3 {
		t.Errorf("docs/CI.md has %d caller examples, want the aya, C and Go callers", n)
	}
}

// Linting a caller against the local reusable workflow catches inputs it
// does not declare and required ones left out.
func TestCallerInputsChecked(t *testing.T) {
	for _, tc := range []struct{ name, with, want string }{
		{"unknown input", "      loader: x\n      adapter-build: make\n      adapter-path: a\n      adapter-buld: make\n", `input "adapter-buld" is not defined`},
		{"missing required input", "      loader: x\n      adapter-build: make\n", `input "adapter-path" is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wf := "on: [pull_request]\njobs:\n  conform:\n    uses: ./.github/workflows/conform-loader.yml\n    with:\n" + tc.with
			errs, err := workflowlint.LintInRepo(repoRoot, "ci-md-example.yml", []byte(wf))
			if err != nil {
				t.Fatal(err)
			}
			if got := workflowlint.Format(errs); !strings.Contains(got, tc.want) {
				t.Errorf("actionlint found:\n%s\nwant a finding containing %q", got, tc.want)
			}
		})
	}
}
