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

// The caller examples in docs/CI.md are valid workflows.
func TestCIDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/CI.md")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for i, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "jobs:") {
			continue
		}
		n++
		path := filepath.Join(t.TempDir(), "example.yml")
		if err := os.WriteFile(path, []byte(block), 0o644); err != nil {
			t.Fatal(err)
		}
		errs, err := workflowlint.LintFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			t.Errorf("docs/CI.md yaml block %d:\n%s", i+1, workflowlint.Format(errs))
		}
	}
	if n < 2 {
		t.Errorf("docs/CI.md has %d workflow examples, want the aya and libbpf callers", n)
	}
}
