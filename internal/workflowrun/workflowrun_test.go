package workflowrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpressions(t *testing.T) {
	contexts := map[string]any{
		"inputs": map[string]any{"kernels": "", "loader": "myloader", "flag": true},
		"matrix": map[string]any{"kernel": "debian-6.1", "topologies": "quick"},
		"needs":  map[string]any{"run": map[string]any{"result": "failure", "outputs": map[string]any{}}},
		"steps":  map[string]any{"run": map[string]any{"outcome": "success", "outputs": map[string]any{"gate": "passed"}}},
		"env":    map[string]any{"OUT": "out/x"},
	}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "out/${{ matrix.kernel }}-${{ matrix.topologies }}", want: "out/debian-6.1-quick"},
		{in: "${{ inputs.kernels || 'fallback' }}", want: "fallback"},
		{in: "${{ inputs.loader || 'fallback' }}", want: "myloader"},
		{in: "${{ inputs.LOADER }}", want: "myloader"}, // property names are case-insensitive
		{in: "${{ inputs.nosuch }}", want: ""},         // a missing property is null
		{in: "${{ fromJSON('[\"a\", \"b\"]')[1] }}", want: "b"},
		{in: "${{ join(fromJSON('[\"a\", \"b\"]'), ' ') }}", want: "a b"},
		{in: "${{ needs.run.result != 'success' }}", want: "true"},
		{in: "${{ needs.run.result == 'FAILURE' }}", want: "true"}, // strings compare case-insensitively
		{in: "${{ steps.run.outputs.gate }}", want: "passed"},
		{in: "${{ env.OUT }}", want: "out/x"},
		{in: "${{ format('{0}-{1}-{{x}}', 'a', 1) }}", want: "a-1-{x}"},
		{in: "${{ contains(fromJSON('[\"a\", \"B\"]'), 'b') }}", want: "true"},
		{in: "${{ startsWith('Debian-6.1', 'debian') && endsWith('abc', 'C') }}", want: "true"},
		{in: "${{ inputs.flag && 'yes' || 'no' }}", want: "yes"},
		{in: "${{ 1 == '1' }}", want: "true"},
		{in: "${{ toJSON(fromJSON('[1]')) }}", want: "[\n  1\n]"},
		{in: "${{ secrets.TOKEN }}", err: `context "secrets" is not available`},
		{in: "${{ nosuch(1) }}", err: "function nosuch is not supported"},
		{in: "${{ matrix.kernel ", err: "expression"},
	} {
		sc := &scope{contexts: contexts, status: func(string) bool { return true }}
		got, err := sc.interpolate(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestValueKeepsType(t *testing.T) {
	sc := &scope{contexts: map[string]any{"inputs": map[string]any{"kernels": ""}}}
	v, err := sc.value(`${{ fromJSON(inputs.kernels || '["debian-6.1", "debian-6.12"]') }}`)
	if err != nil {
		t.Fatal(err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 || arr[1] != "debian-6.12" {
		t.Errorf("value = %#v, want the two kernels as an array", v)
	}
}

func TestConditions(t *testing.T) {
	contexts := map[string]any{"needs": map[string]any{"run": map[string]any{"result": "failure"}}}
	for _, tc := range []struct {
		cond   string
		failed bool
		want   bool
	}{
		{"", false, true},
		{"", true, false},
		{"always()", true, true},
		{"${{ always() }}", true, true},
		{"failure()", true, true},
		{"failure()", false, false},
		{"needs.run.result != 'success'", false, true},
		{"needs.run.result != 'success'", true, false}, // implicit success() &&
		{"needs.run.result == 'success'", false, false},
	} {
		sc := &scope{contexts: contexts, status: func(name string) bool {
			switch name {
			case "success":
				return !tc.failed
			case "failure":
				return tc.failed
			}
			return name == "always"
		}}
		got, err := sc.condition(tc.cond)
		if err != nil || got != tc.want {
			t.Errorf("if: %q (failed %v) = %v, %v; want %v", tc.cond, tc.failed, got, err, tc.want)
		}
	}
}

func TestParseKeyValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{"gate=passed\n", map[string]string{"gate": "passed"}, false},
		{"a=1=2\nb=\n", map[string]string{"a": "1=2", "b": ""}, false},
		{"text<<EOF\nline 1\nline=2\nEOF\nx=y\n", map[string]string{"text": "line 1\nline=2", "x": "y"}, false},
		{"text<<EOF\nnever closed\n", nil, true},
		{"no separator\n", nil, true},
	} {
		got, err := parseKeyValues(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

func TestHashFiles(t *testing.T) {
	ws := t.TempDir()
	for _, f := range []string{"vmtest/kernel/kernel.go", "vmtest/kernel/sub/x.go", "vmtest/other.go", "go.sum"} {
		os.MkdirAll(filepath.Join(ws, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(ws, f), []byte(f), 0o644)
	}
	h := func(p ...string) string {
		t.Helper()
		s, err := hashFiles(ws, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	kernel, all := h("vmtest/kernel/**"), h("**")
	if kernel == "" || len(kernel) != 64 || kernel == all {
		t.Errorf("hashFiles(vmtest/kernel/**) = %q, hashFiles(**) = %q: want two different digests", kernel, all)
	}
	if h("nothing/**") != "" {
		t.Error("a pattern matching nothing must hash to the empty string")
	}
	if got := h("vmtest/kernel/**", "!vmtest/kernel/sub/**"); got == kernel {
		t.Error("an exclusion did not change the digest")
	}
	os.WriteFile(filepath.Join(ws, "vmtest/kernel/kernel.go"), []byte("changed"), 0o644)
	if h("vmtest/kernel/**") == kernel {
		t.Error("changing a file did not change the digest")
	}
}

// A repository with a workflow that uses every feature the runner offers,
// run without VMs: the runner is shown to run steps in order, skip and
// continue as GitHub does, and carry env, paths, outputs, artifacts, caches
// and reusable-workflow inputs and outputs.
func TestRunWorkflow(t *testing.T) {
	repo := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data.txt", "from the tree\n")
	write(".github/workflows/called.yml", `on:
  workflow_call:
    inputs:
      who:
        type: string
        required: true
      times:
        type: number
        default: 2
    outputs:
      greeting:
        value: ${{ jobs.greet.outputs.greeting }}
jobs:
  greet:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.g.outputs.greeting }}
    steps:
      - id: g
        run: echo "greeting=hello ${{ inputs.who }} x${{ inputs.times }}" >> "$GITHUB_OUTPUT"
`)
	write(".github/workflows/main.yml", `on:
  workflow_dispatch:
    inputs:
      kernels:
        type: string
        default: ""
env:
  TOP: top
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        kernel: ${{ fromJSON(inputs.kernels || '["k1"]') }}
        set: [a, b]
    env:
      OUT: out/${{ matrix.kernel }}-${{ matrix.set }}
    outputs:
      last: ${{ steps.out.outputs.value }}
    steps:
      - uses: actions/checkout@v4
      - name: env and files
        run: |
          test "$TOP" = top
          test "$(cat data.txt)" = "from the tree"
          test -z "${NOT_YET:-}"
          echo "NOT_YET=now" >> "$GITHUB_ENV"
          mkdir -p "$HOME/bin" && printf '#!/bin/sh\necho tool ran\n' > "$HOME/bin/mytool" && chmod +x "$HOME/bin/mytool"
          echo "$HOME/bin" >> "$GITHUB_PATH"
          echo "### summary ${{ matrix.set }}" >> "$GITHUB_STEP_SUMMARY"
      - id: out
        run: |
          test "$NOT_YET" = now
          test "${{ env.NOT_YET }}" = now
          mytool
          echo "value=${{ matrix.kernel }}-${{ matrix.set }}" >> "$GITHUB_OUTPUT"
      - uses: actions/cache@v4
        id: cache
        with:
          path: ~/cached
          key: k-${{ hashFiles('data.txt') }}
      - name: fill the cache
        if: steps.cache.outputs.cache-hit != 'true'
        run: mkdir -p ~/cached && echo filled > ~/cached/file
      - run: test "$(cat ~/cached/file)" = filled
      - id: flaky
        continue-on-error: true
        run: exit 3
      - name: after a tolerated failure
        run: test "${{ steps.flaky.outcome }}/${{ steps.flaky.conclusion }}" = failure/success
      - name: results
        run: mkdir -p "$OUT" && echo "${{ matrix.set }}" > "$OUT/result.txt"
        working-directory: .
      - uses: actions/upload-artifact@v4
        with:
          name: res-${{ matrix.kernel }}-${{ matrix.set }}
          path: ${{ env.OUT }}
          if-no-files-found: error
  call:
    needs: build
    uses: ./.github/workflows/called.yml
    with:
      who: ${{ needs.build.outputs.last }}
  fail:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - uses: actions/download-artifact@v4
        with:
          pattern: res-*
          path: got
      - run: test "$(cat got/res-k1-a/result.txt got/res-k1-b/result.txt | tr -d '\n')" = ab
      - id: boom
        run: echo before; exit 1
      - name: never
        run: echo must not run
      - name: cleanup
        if: always()
        run: echo cleaning
  after:
    needs: fail
    runs-on: ubuntu-latest
    steps:
      - run: echo must be skipped
  report:
    needs: [fail]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: test "${{ needs.fail.result }}" = failure
`)
	r := &Runner{
		Dir: t.TempDir(), Repos: map[string]string{"me/repo": repo}, Repository: "me/repo",
		EventName: "workflow_dispatch", Env: []string{"PATH=/usr/bin:/bin"}, Log: testWriter{t},
	}
	run, err := r.RunFile(context.Background(), filepath.Join(repo, ".github/workflows/main.yml"))
	if err != nil {
		t.Fatal(err)
	}
	build := run.Jobs["build"]
	if build.Result != Success || len(build.Runs) != 2 {
		t.Fatalf("build: %s with %d runs, want success with 2 (k1 × a, b)", build.Result, len(build.Runs))
	}
	for i, jr := range build.Runs {
		for _, s := range jr.Steps {
			if s.Conclusion != Success && s.Conclusion != Skipped {
				t.Errorf("build %s: step %s: %s (%v)", jr.Name, s.Name, s.Conclusion, s.Err)
			}
		}
		if got := jr.Step("cache").Outputs["cache-hit"]; got != map[int]string{0: "false", 1: "true"}[i] {
			t.Errorf("build %s: cache-hit %s; the second run must restore what the first saved", jr.Name, got)
		}
		if fill := jr.Step("fill the cache"); (fill.Outcome == Skipped) != (i == 1) {
			t.Errorf("build %s: fill the cache %s", jr.Name, fill.Outcome)
		}
		if !strings.Contains(jr.Summary, "### summary") {
			t.Errorf("build %s: summary %q", jr.Name, jr.Summary)
		}
	}
	if got := run.Jobs["call"]; got.Result != Success || got.Outputs["greeting"] != "hello k1-b x2" {
		t.Errorf("call: %s, outputs %v; want success with greeting 'hello k1-b x2'", got.Result, got.Outputs)
	}
	fail := run.Jobs["fail"]
	if fail.Result != Failure {
		t.Errorf("fail: %s, want failure", fail.Result)
	}
	steps := fail.Runs[0].Steps
	for i, want := range []string{Success, Success, Failure, Skipped, Success} {
		if steps[i].Outcome != want {
			t.Errorf("fail: step %d (%s) %s, want %s", i, steps[i].Name, steps[i].Outcome, want)
		}
	}
	if run.Jobs["after"].Result != Skipped || run.Jobs["report"].Result != Success {
		t.Errorf("after: %s (want skipped), report: %s (want success)", run.Jobs["after"].Result, run.Jobs["report"].Result)
	}
	if run.Result != Failure {
		t.Errorf("run result %s, want failure", run.Result)
	}
}

// What the runner cannot reproduce is refused, never skipped.
func TestRunRefusesUnsupported(t *testing.T) {
	for _, tc := range []struct{ name, job string }{
		{"unknown action", "    steps:\n      - uses: actions/setup-node@v4\n"},
		{"unknown action input", "    steps:\n      - uses: actions/checkout@v4\n        with:\n          token: x\n"},
		{"container", "    container: debian:bookworm\n    steps:\n      - run: true\n"},
		{"services", "    services:\n      db:\n        image: postgres\n    steps:\n      - run: true\n"},
		{"shell", "    steps:\n      - run: true\n        shell: pwsh\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "w.yml")
			os.WriteFile(f, []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"+tc.job), 0o644)
			r := &Runner{Dir: t.TempDir(), Repos: map[string]string{"me/repo": dir}, Repository: "me/repo",
				EventName: "push", Env: []string{"PATH=/usr/bin:/bin"}, Log: testWriter{t}}
			if _, err := r.RunFile(context.Background(), f); !errors.Is(err, ErrUnsupported) {
				t.Errorf("got %v, want ErrUnsupported", err)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
