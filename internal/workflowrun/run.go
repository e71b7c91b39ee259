// Package workflowrun runs GitHub Actions workflows on this machine the way
// GitHub's runner does, so that the project's workflows are tested without
// GitHub: jobs in needs order, matrix rows expanded, ${{ }} expressions
// evaluated (inputs, matrix, env, steps, needs, github, runner contexts and
// the functions the workflows use), each job's run: steps executed in order
// by the runner's shells with GITHUB_ENV, GITHUB_PATH, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY, if: and continue-on-error with GitHub's status rules,
// job and workflow_call outputs, and reusable workflows called by jobs.
//
// uses: steps are replaced by local equivalents (actions.go): actions/checkout
// copies a local tree, actions/setup-go puts the local Go on PATH,
// actions/cache and the artifact actions keep their files in directories.
// Whatever a workflow uses that has no faithful local equivalent (services, a
// container image the caller does not vouch for, matrix include/exclude, an
// unknown action or action input) is refused with ErrUnsupported rather than
// skipped, so a passing run means every step really ran.
//
// Differences from GitHub, on purpose: jobs run one after another (a
// matrix's too), each in a fresh workspace, HOME and temp directory, as on
// separate runners; a job container is this host itself when Runner.Container
// accepts the image; checkout ignores ref (the local tree stands for it).
package workflowrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rhysd/actionlint"
)

var (
	// ErrParse: the workflow file does not parse.
	ErrParse = errors.New("parse workflow")
	// ErrUnsupported: the workflow uses a feature this runner does not
	// reproduce faithfully.
	ErrUnsupported = errors.New("not supported by the local runner")
	// ErrInput: a workflow_call or workflow_dispatch input is missing or unknown.
	ErrInput = errors.New("workflow input")
)

// Results of jobs and steps, as GitHub names them.
const (
	Success = "success"
	Failure = "failure"
	Skipped = "skipped"
)

// Runner runs workflow files.
type Runner struct {
	// Dir holds every job's workspace, HOME and temp directory, the
	// artifacts and the cache. It must exist.
	Dir string
	// Repos maps "owner/name" to the local tree that actions/checkout copies
	// and that reusable workflows ("owner/name/path@ref") are read from.
	Repos map[string]string
	// Repository is the repository the workflow runs for (github.repository):
	// what actions/checkout copies without a repository input.
	Repository string
	// EventName is github.event_name (push, pull_request, workflow_dispatch).
	EventName string
	// Inputs are the workflow_dispatch inputs (defaults fill the rest).
	Inputs map[string]string
	// Env is the environment every step starts from, before the runner's
	// own variables (HOME, GITHUB_*, RUNNER_*): PATH, proxies, APT_CONFIG...
	Env []string
	// GoRoot is the Go toolchain actions/setup-go stands for: its bin joins
	// PATH. Its version must satisfy go-version-file.
	GoRoot string
	// Container decides whether this host can stand in for a job container
	// image; nil refuses every container job.
	Container func(image string) error
	// Log receives every step's output, with a header line per step.
	Log io.Writer
	// Progress, if set, hears one line per job and step.
	Progress func(msg string)
}

// Run is what a workflow run produced.
type Run struct {
	File string
	// Jobs by job id.
	Jobs map[string]*JobResult
	// Outputs are the workflow_call outputs (a reusable workflow).
	Outputs map[string]string
	// Result is failure when any job failed.
	Result string
	// Artifacts holds one directory per uploaded artifact, by name.
	Artifacts string
}

// JobResult is one job id: its matrix runs or the workflow it called.
type JobResult struct {
	ID      string
	Result  string
	Outputs map[string]string
	Runs    []*JobRun
	// Called is the run of the reusable workflow a `uses:` job called.
	Called *Run
}

// JobRun is one job execution (one matrix combination).
type JobRun struct {
	Name      string
	Matrix    map[string]any
	Result    string
	Steps     []*StepResult
	Summary   string // the concatenated GITHUB_STEP_SUMMARY
	Workspace string
	Home      string
	Outputs   map[string]string
}

// Step returns the step with id or name, or nil.
func (j *JobRun) Step(idOrName string) *StepResult {
	for _, s := range j.Steps {
		if s.ID == idOrName || s.Name == idOrName {
			return s
		}
	}
	return nil
}

// StepResult is one step's execution.
type StepResult struct {
	ID, Name string
	// Outcome is before continue-on-error, Conclusion after.
	Outcome, Conclusion string
	Outputs             map[string]string
	// Err says why the step failed (exit status, or a local action's error).
	Err      error
	Log      string // the step's output file
	Duration time.Duration
}

// state is shared by a workflow and the workflows its jobs call.
type state struct {
	artifacts, cache string
	jobs             int
	github           map[string]any
}

// RunFile runs the workflow in file. The error is for what could not be
// run at all (parse errors, unsupported features); failed steps and jobs
// are in the results.
func (r *Runner) RunFile(ctx context.Context, file string) (*Run, error) {
	st := &state{artifacts: filepath.Join(r.Dir, "artifacts"), cache: filepath.Join(r.Dir, "cache")}
	for _, d := range []string{st.artifacts, st.cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	st.github = map[string]any{
		"repository": r.Repository, "event_name": r.EventName, "ref": "refs/heads/main",
		"sha": "0000000000000000000000000000000000000000", "run_id": "1", "run_number": "1",
		"run_attempt": "1", "actor": "workflowrun", "server_url": "https://github.com",
		"event": map[string]any{},
	}
	wf, err := parse(file)
	if err != nil {
		return nil, err
	}
	inputs := map[string]any{}
	for _, ev := range wf.On {
		if d, ok := ev.(*actionlint.WorkflowDispatchEvent); ok && r.EventName == "workflow_dispatch" {
			for key, in := range d.Inputs {
				name := in.Name.Value
				v, given := r.Inputs[name]
				if !given && in.Default != nil {
					v = in.Default.Value
				}
				if !given && in.Required != nil && in.Required.Value && in.Default == nil {
					return nil, fmt.Errorf("%w: %s: workflow_dispatch input %s is required", ErrInput, file, key)
				}
				inputs[name] = v
			}
		}
	}
	for name := range r.Inputs {
		if _, ok := inputs[name]; !ok {
			return nil, fmt.Errorf("%w: %s: no workflow_dispatch input %q (event %s)", ErrInput, file, name, r.EventName)
		}
	}
	return r.runWorkflow(ctx, file, wf, inputs, st)
}

func parse(file string) (*actionlint.Workflow, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParse, err)
	}
	wf, errs := actionlint.Parse(b)
	if len(errs) > 0 {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, fmt.Sprintf("%s:%d:%d: %s", file, e.Line, e.Column, e.Message))
		}
		return nil, fmt.Errorf("%w: %s", ErrParse, strings.Join(msgs, "; "))
	}
	return wf, nil
}

func (r *Runner) progress(format string, args ...any) {
	if r.Progress != nil {
		r.Progress(fmt.Sprintf(format, args...))
	}
}

// jobOrder sorts job ids so that every job comes after its needs, in file
// order otherwise.
func jobOrder(wf *actionlint.Workflow) ([]string, error) {
	var ids []string
	for id := range wf.Jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return wf.Jobs[ids[i]].Pos.Line < wf.Jobs[ids[j]].Pos.Line })
	var out []string
	done := map[string]bool{}
	for len(out) < len(ids) {
		progressed := false
		for _, id := range ids {
			if done[id] {
				continue
			}
			ready := true
			for _, n := range wf.Jobs[id].Needs {
				if !done[strings.ToLower(n.Value)] {
					ready = false
				}
			}
			if ready {
				done[id] = true
				out = append(out, id)
				progressed = true
			}
		}
		if !progressed {
			return nil, fmt.Errorf("%w: job needs form a cycle or name missing jobs", ErrParse)
		}
	}
	return out, nil
}

func (r *Runner) runWorkflow(ctx context.Context, file string, wf *actionlint.Workflow, inputs map[string]any, st *state) (*Run, error) {
	run := &Run{File: file, Jobs: map[string]*JobResult{}, Outputs: map[string]string{}, Result: Success, Artifacts: st.artifacts}
	order, err := jobOrder(wf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	needsCtx := map[string]any{}
	for _, id := range order {
		job := wf.Jobs[id]
		needs := map[string]any{}
		allOK, anyFailed := true, false
		for _, n := range job.Needs {
			nid := strings.ToLower(n.Value)
			needs[n.Value] = needsCtx[nid]
			switch run.Jobs[nid].Result {
			case Success:
			case Failure:
				allOK, anyFailed = false, true
			default:
				allOK = false
			}
		}
		base := &scope{contexts: map[string]any{
			"github": st.github, "inputs": inputs, "needs": needs, "secrets": map[string]any{},
			"vars": map[string]any{}, "runner": runnerContext(""),
		}, status: func(name string) bool {
			switch name {
			case "success":
				return allOK
			case "failure":
				return anyFailed
			case "always":
				return true
			}
			return false
		}}
		cond := ""
		if job.If != nil {
			cond = job.If.Value
		}
		ok, err := base.condition(cond)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", file, id, err)
		}
		res := &JobResult{ID: id, Outputs: map[string]string{}}
		run.Jobs[id] = res
		switch {
		case !ok:
			res.Result = Skipped
			r.progress("job %s: skipped (if: %s)", id, cond)
		case job.WorkflowCall != nil:
			if err := r.callWorkflow(ctx, file, job, base, st, res); err != nil {
				return nil, err
			}
		default:
			if err := r.runJob(ctx, file, wf, job, base, st, res); err != nil {
				return nil, err
			}
		}
		if res.Result == Failure {
			run.Result = Failure
		}
		outs := map[string]any{}
		for k, v := range res.Outputs {
			outs[k] = v
		}
		needsCtx[id] = map[string]any{"result": res.Result, "outputs": outs}
	}
	for _, ev := range wf.On {
		call, ok := ev.(*actionlint.WorkflowCallEvent)
		if !ok {
			continue
		}
		sc := &scope{contexts: map[string]any{"jobs": needsCtx, "inputs": inputs, "github": st.github}}
		for _, o := range call.Outputs {
			v, err := sc.interpolate(o.Value.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: output %s: %w", file, o.Name.Value, err)
			}
			run.Outputs[o.Name.Value] = v
		}
	}
	return run, nil
}

// callWorkflow runs the reusable workflow a job's uses: names, with its
// inputs typed and defaulted as workflow_call declares them.
func (r *Runner) callWorkflow(ctx context.Context, file string, job *actionlint.Job, caller *scope, st *state, res *JobResult) error {
	call := job.WorkflowCall
	if job.Strategy != nil {
		return fmt.Errorf("%w: %s: job %s: a matrix around a reusable workflow", ErrUnsupported, file, job.ID.Value)
	}
	path, err := r.resolveWorkflow(call.Uses.Value)
	if err != nil {
		return fmt.Errorf("%s: job %s: %w", file, job.ID.Value, err)
	}
	wf, err := parse(path)
	if err != nil {
		return err
	}
	var decl *actionlint.WorkflowCallEvent
	for _, ev := range wf.On {
		if c, ok := ev.(*actionlint.WorkflowCallEvent); ok {
			decl = c
		}
	}
	if decl == nil {
		return fmt.Errorf("%w: %s (called by %s) has no workflow_call trigger", ErrInput, path, file)
	}
	given := map[string]string{}
	for key, in := range call.Inputs {
		v, err := caller.interpolate(in.Value.Value)
		if err != nil {
			return fmt.Errorf("%s: job %s: with.%s: %w", file, job.ID.Value, in.Name.Value, err)
		}
		given[key] = v
	}
	inputs := map[string]any{}
	for _, in := range decl.Inputs {
		v, ok := given[in.ID]
		delete(given, in.ID)
		if !ok {
			if in.Required != nil && in.Required.Value {
				return fmt.Errorf("%w: %s: job %s does not give required input %s of %s", ErrInput, file, job.ID.Value, in.Name.Value, path)
			}
			if in.Default != nil {
				v = in.Default.Value
			}
		}
		switch in.Type {
		case actionlint.WorkflowCallEventInputTypeBoolean:
			inputs[in.Name.Value] = v == "true"
		case actionlint.WorkflowCallEventInputTypeNumber:
			inputs[in.Name.Value] = toNumber(v)
		default:
			inputs[in.Name.Value] = v
		}
	}
	for k := range given {
		return fmt.Errorf("%w: %s: job %s gives input %s that %s does not declare", ErrInput, file, job.ID.Value, k, path)
	}
	r.progress("job %s: calling %s", job.ID.Value, call.Uses.Value)
	called, err := r.runWorkflow(ctx, path, wf, inputs, st)
	if err != nil {
		return err
	}
	res.Called, res.Result, res.Outputs = called, called.Result, called.Outputs
	return nil
}

// resolveWorkflow maps "./path" (the repository's own) and
// "owner/name/path@ref" to a file in Repos.
func (r *Runner) resolveWorkflow(uses string) (string, error) {
	if rel, ok := strings.CutPrefix(uses, "./"); ok {
		dir, ok := r.Repos[r.Repository]
		if !ok {
			return "", fmt.Errorf("%w: %s: no local tree for %s", ErrUnsupported, uses, r.Repository)
		}
		return filepath.Join(dir, rel), nil
	}
	spec, _, _ := strings.Cut(uses, "@")
	parts := strings.SplitN(spec, "/", 3)
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: workflow reference %q", ErrUnsupported, uses)
	}
	dir, ok := r.Repos[parts[0]+"/"+parts[1]]
	if !ok {
		return "", fmt.Errorf("%w: %s: no local tree for %s/%s", ErrUnsupported, uses, parts[0], parts[1])
	}
	return filepath.Join(dir, parts[2]), nil
}

func runnerContext(temp string) map[string]any {
	return map[string]any{"os": "Linux", "arch": "X64", "name": "workflowrun", "temp": temp, "tool_cache": temp}
}

// matrix expands a job's strategy into its combinations, rows in file order.
func matrix(job *actionlint.Job, sc *scope) ([]map[string]any, error) {
	if job.Strategy == nil || job.Strategy.Matrix == nil {
		return []map[string]any{nil}, nil
	}
	m := job.Strategy.Matrix
	if m.Expression != nil || m.Include != nil || m.Exclude != nil {
		return nil, fmt.Errorf("%w: job %s: matrix expression, include or exclude", ErrUnsupported, job.ID.Value)
	}
	var rows []*actionlint.MatrixRow
	names := map[*actionlint.MatrixRow]string{}
	for key, row := range m.Rows {
		rows = append(rows, row)
		names[row] = key // lower-cased; expression rows have no Name
		if row.Name != nil {
			names[row] = row.Name.Value
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rowPos(rows[i]), rowPos(rows[j])
		return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
	})
	combos := []map[string]any{{}}
	for _, row := range rows {
		var values []any
		if row.Expression != nil {
			v, err := sc.value(row.Expression.Value)
			if err != nil {
				return nil, fmt.Errorf("job %s: matrix.%s: %w", job.ID.Value, names[row], err)
			}
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return nil, fmt.Errorf("job %s: matrix.%s is %s, want a non-empty array", job.ID.Value, names[row], toString(v))
			}
			values = arr
		} else {
			for _, raw := range row.Values {
				values = append(values, rawYAML(raw))
			}
		}
		var next []map[string]any
		for _, c := range combos {
			for _, v := range values {
				n := map[string]any{names[row]: v}
				for k, old := range c {
					n[k] = old
				}
				next = append(next, n)
			}
		}
		combos = next
	}
	return combos, nil
}

// rowPos is where a matrix row's values start in the file.
func rowPos(row *actionlint.MatrixRow) actionlint.Pos {
	switch {
	case row.Name != nil && row.Name.Pos != nil:
		return *row.Name.Pos
	case row.Expression != nil && row.Expression.Pos != nil:
		return *row.Expression.Pos
	case len(row.Values) > 0 && row.Values[0].Pos() != nil:
		return *row.Values[0].Pos()
	}
	return actionlint.Pos{}
}

func rawYAML(v actionlint.RawYAMLValue) any {
	switch v := v.(type) {
	case *actionlint.RawYAMLString:
		return v.Value
	case *actionlint.RawYAMLArray:
		out := make([]any, len(v.Elems))
		for i, e := range v.Elems {
			out[i] = rawYAML(e)
		}
		return out
	case *actionlint.RawYAMLObject:
		out := map[string]any{}
		for k, e := range v.Props {
			out[k] = rawYAML(e)
		}
		return out
	}
	return nil
}

func (r *Runner) runJob(ctx context.Context, file string, wf *actionlint.Workflow, job *actionlint.Job, base *scope, st *state, res *JobResult) error {
	id := job.ID.Value
	if job.Services != nil {
		return fmt.Errorf("%w: %s: job %s: services", ErrUnsupported, file, id)
	}
	if job.Container != nil {
		if err := r.checkContainer(job.Container, base); err != nil {
			return fmt.Errorf("%s: job %s: %w", file, id, err)
		}
	}
	combos, err := matrix(job, base)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	res.Result = Success
	for _, combo := range combos {
		jr, err := r.runJobOnce(ctx, file, wf, job, base, st, combo)
		if err != nil {
			return err
		}
		res.Runs = append(res.Runs, jr)
		if jr.Result == Failure {
			res.Result = Failure
		}
		for k, v := range jr.Outputs {
			if v != "" {
				res.Outputs[k] = v
			}
		}
	}
	return nil
}

func (r *Runner) checkContainer(c *actionlint.Container, sc *scope) error {
	if c.Env != nil || len(c.Ports) > 0 || len(c.Volumes) > 0 || c.Credentials != nil {
		return fmt.Errorf("%w: container env, ports, volumes or credentials", ErrUnsupported)
	}
	image, err := sc.interpolate(c.Image.Value)
	if err != nil {
		return err
	}
	if r.Container == nil {
		return fmt.Errorf("%w: container %s (no Runner.Container)", ErrUnsupported, image)
	}
	if err := r.Container(image); err != nil {
		return fmt.Errorf("%w: this host cannot stand in for container %s: %w", ErrUnsupported, image, err)
	}
	if c.Options != nil {
		for _, opt := range strings.Fields(c.Options.Value) {
			if opt != "--privileged" {
				return fmt.Errorf("%w: container option %s", ErrUnsupported, opt)
			}
			if os.Geteuid() != 0 {
				return fmt.Errorf("%w: a --privileged container runs its steps as root; this runner is uid %d", ErrUnsupported, os.Geteuid())
			}
		}
	}
	return nil
}

// job is one job execution in progress.
type job struct {
	r                *Runner
	run              *JobRun
	dir, temp, logs  string
	env              map[string]string // workflow + job env, then GITHUB_ENV
	envCtx           map[string]any    // the same as the env context
	paths            []string          // GITHUB_PATH, newest first
	steps            map[string]any    // the steps context
	failed           bool
	post             []func() error
	github           map[string]any
	contexts         map[string]any
	defShell, defDir string
	st               *state
}

func (r *Runner) runJobOnce(ctx context.Context, file string, wf *actionlint.Workflow, aj *actionlint.Job, base *scope, st *state, combo map[string]any) (*JobRun, error) {
	st.jobs++
	dir := filepath.Join(r.Dir, "jobs", fmt.Sprintf("%02d-%s", st.jobs, aj.ID.Value))
	j := &job{r: r, dir: dir, temp: filepath.Join(dir, "temp"), logs: filepath.Join(dir, "logs"),
		env: map[string]string{}, steps: map[string]any{}, st: st}
	j.run = &JobRun{Matrix: combo, Workspace: filepath.Join(dir, "work"), Home: filepath.Join(dir, "home"), Outputs: map[string]string{}, Result: Success}
	for _, d := range []string{j.run.Workspace, j.run.Home, j.temp, j.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	j.github = map[string]any{}
	for k, v := range st.github {
		j.github[k] = v
	}
	j.github["workspace"] = j.run.Workspace
	j.github["job"] = aj.ID.Value
	matrixCtx := map[string]any{}
	for k, v := range combo {
		matrixCtx[k] = v
	}
	j.contexts = map[string]any{}
	for k, v := range base.contexts {
		j.contexts[k] = v
	}
	j.contexts["github"] = j.github
	j.contexts["matrix"] = matrixCtx
	j.contexts["steps"] = j.steps
	j.contexts["runner"] = runnerContext(j.temp)
	j.contexts["strategy"] = map[string]any{"fail-fast": false, "job-index": 0, "job-total": 1}
	j.envCtx = map[string]any{}
	j.contexts["env"] = j.envCtx
	sc := j.scope()
	for _, e := range []*actionlint.Env{wf.Env, aj.Env} {
		if err := j.addEnv(sc, e, j.env); err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", file, aj.ID.Value, err)
		}
	}
	for _, d := range []*actionlint.Defaults{wf.Defaults, aj.Defaults} {
		if d != nil && d.Run != nil {
			if d.Run.Shell != nil {
				j.defShell = d.Run.Shell.Value
			}
			if d.Run.WorkingDirectory != nil {
				j.defDir = d.Run.WorkingDirectory.Value
			}
		}
	}
	name := aj.ID.Value
	if aj.Name != nil {
		n, err := j.scope().interpolate(aj.Name.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: name: %w", file, aj.ID.Value, err)
		}
		name = n
	}
	j.run.Name = name
	timeout := 360 * time.Minute
	if aj.TimeoutMinutes != nil && aj.TimeoutMinutes.Expression == nil {
		timeout = time.Duration(aj.TimeoutMinutes.Value * float64(time.Minute))
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.progress("job %s: start (%s)", name, dir)
	for i, s := range aj.Steps {
		sr, err := j.step(jctx, i, s)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: step %d: %w", file, name, i+1, err)
		}
		j.run.Steps = append(j.run.Steps, sr)
	}
	for i := len(j.post) - 1; i >= 0; i-- {
		if err := j.post[i](); err != nil {
			j.failed = true
			fmt.Fprintf(r.Log, "post-job step failed: %v\n", err)
		}
	}
	if j.failed {
		j.run.Result = Failure
	}
	osc := j.scope()
	for _, o := range aj.Outputs {
		v, err := osc.interpolate(o.Value.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: job %s: output %s: %w", file, name, o.Name.Value, err)
		}
		j.run.Outputs[o.Name.Value] = v
	}
	r.progress("job %s: %s", name, j.run.Result)
	return j.run, nil
}

func (j *job) scope() *scope {
	return &scope{contexts: j.contexts, workspace: j.run.Workspace, status: func(name string) bool {
		switch name {
		case "success":
			return !j.failed
		case "failure":
			return j.failed
		case "always":
			return true
		}
		return false
	}}
}

// addEnv evaluates e's variables into dst and the env context.
func (j *job) addEnv(sc *scope, e *actionlint.Env, dst map[string]string) error {
	if e == nil {
		return nil
	}
	if e.Expression != nil {
		return fmt.Errorf("%w: env given as one expression", ErrUnsupported)
	}
	var names []string
	for k := range e.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := e.Vars[k]
		val, err := sc.interpolate(v.Value.Value)
		if err != nil {
			return fmt.Errorf("env %s: %w", v.Name.Value, err)
		}
		dst[v.Name.Value] = val
		j.contexts["env"].(map[string]any)[v.Name.Value] = val
	}
	return nil
}

func (j *job) step(ctx context.Context, i int, s *actionlint.Step) (*StepResult, error) {
	sr := &StepResult{ID: fmt.Sprintf("__%d", i+1), Outputs: map[string]string{}, Conclusion: Skipped, Outcome: Skipped}
	if s.ID != nil {
		sr.ID = s.ID.Value
	}
	// The env context of this step: the job's plus the step's own.
	stepEnvCtx := map[string]any{}
	for k, v := range j.envCtx {
		stepEnvCtx[k] = v
	}
	j.contexts["env"] = stepEnvCtx
	defer func() { j.contexts["env"] = j.envCtx }()
	sc := j.scope()
	stepEnv := map[string]string{}
	if err := j.addEnv(sc, s.Env, stepEnv); err != nil {
		return nil, err
	}
	switch {
	case s.Name != nil:
		n, err := sc.interpolate(s.Name.Value)
		if err != nil {
			return nil, err
		}
		sr.Name = n
	case s.Exec != nil && s.Exec.Kind() == actionlint.ExecKindAction:
		sr.Name = s.Exec.(*actionlint.ExecAction).Uses.Value
	default:
		sr.Name = sr.ID
	}
	cond := ""
	if s.If != nil {
		cond = s.If.Value
	}
	ok, err := sc.condition(cond)
	if err != nil {
		return nil, err
	}
	stepsCtx := map[string]any{"outputs": map[string]any{}, "outcome": Skipped, "conclusion": Skipped}
	j.steps[sr.ID] = stepsCtx
	if !ok {
		j.r.progress("  step %s: skipped", sr.Name)
		return sr, nil
	}
	continueOnError := false
	if c := s.ContinueOnError; c != nil {
		continueOnError = c.Value
		if c.Expression != nil {
			v, err := sc.value(c.Expression.Value)
			if err != nil {
				return nil, err
			}
			continueOnError = truthy(v)
		}
	}
	timeout := time.Duration(0)
	if s.TimeoutMinutes != nil {
		if s.TimeoutMinutes.Expression != nil {
			return nil, fmt.Errorf("%w: timeout-minutes as an expression", ErrUnsupported)
		}
		timeout = time.Duration(s.TimeoutMinutes.Value * float64(time.Minute))
	}
	sctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	sr.Log = filepath.Join(j.logs, fmt.Sprintf("%02d-%s.log", i+1, sanitize(sr.ID)))
	logf, err := os.Create(sr.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(j.r.Log, "== %s / %s\n", j.run.Name, sr.Name)
	out := io.MultiWriter(logf, j.r.Log)
	start := time.Now()
	files, err := j.stepFiles(i)
	if err != nil {
		return nil, err
	}
	switch e := s.Exec.(type) {
	case *actionlint.ExecRun:
		sr.Err, err = j.runScript(sctx, sc, e, stepEnv, files, out)
	case *actionlint.ExecAction:
		sr.Err, err = j.action(sctx, sc, e, stepEnv, sr, out)
	default:
		err = fmt.Errorf("%w: step kind %T", ErrUnsupported, s.Exec)
	}
	if err != nil {
		return nil, err
	}
	sr.Duration = time.Since(start)
	if ferr := j.readStepFiles(files, sr); ferr != nil && sr.Err == nil {
		sr.Err = ferr
	}
	sr.Outcome = Success
	if sr.Err != nil {
		sr.Outcome = Failure
		fmt.Fprintf(out, "step failed: %v\n", sr.Err)
	}
	sr.Conclusion = sr.Outcome
	if sr.Outcome == Failure && continueOnError {
		sr.Conclusion = Success
	}
	if sr.Conclusion == Failure {
		j.failed = true
	}
	outs := map[string]any{}
	for k, v := range sr.Outputs {
		outs[k] = v
	}
	stepsCtx["outputs"], stepsCtx["outcome"], stepsCtx["conclusion"] = outs, sr.Outcome, sr.Conclusion
	j.r.progress("  step %s: %s (%s)", sr.Name, sr.Outcome, sr.Duration.Round(time.Second))
	return sr, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// stepFiles are the GITHUB_* command files of step i.
type stepFiles struct{ env, path, output, summary, state string }

func (j *job) stepFiles(i int) (stepFiles, error) {
	d := filepath.Join(j.temp, "_runner_file_commands", strconv.Itoa(i+1))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return stepFiles{}, err
	}
	f := stepFiles{env: filepath.Join(d, "env"), path: filepath.Join(d, "path"), output: filepath.Join(d, "output"),
		summary: filepath.Join(d, "summary"), state: filepath.Join(d, "state")}
	for _, p := range []string{f.env, f.path, f.output, f.summary, f.state} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return f, err
		}
	}
	return f, nil
}

// readStepFiles applies what a step wrote to its command files.
func (j *job) readStepFiles(f stepFiles, sr *StepResult) error {
	outs, err := readKeyValues(f.output)
	if err != nil {
		return fmt.Errorf("GITHUB_OUTPUT: %w", err)
	}
	for k, v := range outs {
		sr.Outputs[k] = v
	}
	envs, err := readKeyValues(f.env)
	if err != nil {
		return fmt.Errorf("GITHUB_ENV: %w", err)
	}
	for k, v := range envs {
		j.env[k] = v
		j.envCtx[k] = v // the job's env context, seen by the next steps
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			j.paths = append([]string{l}, j.paths...)
		}
	}
	sum, err := os.ReadFile(f.summary)
	if err != nil {
		return err
	}
	j.run.Summary += string(sum)
	return nil
}

// readKeyValues parses GITHUB_OUTPUT / GITHUB_ENV: name=value lines and
// name<<DELIMITER blocks.
func readKeyValues(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeyValues(string(b))
}

func parseKeyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				val = append(val, sc.Text())
			}
			if !closed {
				return nil, fmt.Errorf("%s<<%s: delimiter never closed", name, delim)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %q is neither name=value nor name<<DELIMITER", line)
		}
		out[name] = val
	}
	return out, sc.Err()
}

// environ is the process environment of a step.
func (j *job) environ(stepEnv map[string]string, f *stepFiles) []string {
	m := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := m[k]; !ok {
			order = append(order, k)
		}
		m[k] = v
	}
	for _, kv := range j.r.Env {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	ws := j.run.Workspace
	for k, v := range map[string]string{
		"HOME": j.run.Home, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": ws,
		"GITHUB_REPOSITORY": toString(j.github["repository"]), "GITHUB_EVENT_NAME": toString(j.github["event_name"]),
		"GITHUB_REF": toString(j.github["ref"]), "GITHUB_SHA": toString(j.github["sha"]), "GITHUB_RUN_ID": "1",
		"GITHUB_RUN_NUMBER": "1", "GITHUB_JOB": toString(j.github["job"]), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
		"RUNNER_TEMP": j.temp, "RUNNER_TOOL_CACHE": filepath.Join(j.dir, "toolcache"),
	} {
		set(k, v)
	}
	for k, v := range j.env {
		set(k, v)
	}
	for k, v := range stepEnv {
		set(k, v)
	}
	if f != nil {
		set("GITHUB_ENV", f.env)
		set("GITHUB_PATH", f.path)
		set("GITHUB_OUTPUT", f.output)
		set("GITHUB_STEP_SUMMARY", f.summary)
		set("GITHUB_STATE", f.state)
	}
	if len(j.paths) > 0 {
		p := strings.Join(j.paths, ":")
		if m["PATH"] != "" {
			p += ":" + m["PATH"]
		}
		set("PATH", p)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+m[k])
	}
	return out
}

// shellCommand is the runner's command line for a shell name.
func shellCommand(shell, script string) ([]string, error) {
	switch shell {
	case "":
		return []string{"bash", "-e", script}, nil
	case "bash":
		return []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", script}, nil
	case "sh":
		return []string{"sh", "-e", script}, nil
	}
	if strings.Contains(shell, "{0}") {
		var args []string
		for _, f := range strings.Fields(shell) {
			args = append(args, strings.ReplaceAll(f, "{0}", script))
		}
		return args, nil
	}
	return nil, fmt.Errorf("%w: shell %q", ErrUnsupported, shell)
}

// runScript runs a run: step. The first error is the step's failure, the
// second the runner's.
func (j *job) runScript(ctx context.Context, sc *scope, e *actionlint.ExecRun, stepEnv map[string]string, f stepFiles, out io.Writer) (error, error) {
	script, err := sc.interpolate(e.Run.Value)
	if err != nil {
		return nil, err
	}
	shell := j.defShell
	if e.Shell != nil {
		shell = e.Shell.Value
	}
	wd := j.defDir
	if e.WorkingDirectory != nil {
		if wd, err = sc.interpolate(e.WorkingDirectory.Value); err != nil {
			return nil, err
		}
	}
	dir := j.run.Workspace
	if wd != "" {
		dir = filepath.Join(dir, wd)
		if filepath.IsAbs(wd) {
			dir = wd
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("working-directory %s: not a directory", dir), nil
	}
	path := filepath.Join(j.temp, fmt.Sprintf("step-%d.sh", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return nil, err
	}
	argv, err := shellCommand(shell, path)
	if err != nil {
		return nil, err
	}
	env := j.environ(stepEnv, &f)
	bin, err := lookPath(argv[0], env)
	if err != nil {
		return err, nil
	}
	cmd := exec.CommandContext(ctx, bin, argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // nothing a step started outlives it
	}
	if ctx.Err() != nil {
		return fmt.Errorf("timed out or cancelled: %w", ctx.Err()), nil
	}
	return err, nil
}

// lookPath finds a program in the PATH of env.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				f := filepath.Join(d, name)
				if st, err := os.Stat(f); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
					return f, nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s not found in the step's PATH", name)
}
