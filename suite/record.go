package suite

import (
	"fmt"
	"strings"
	"sync"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/perfconform/perfconform/result"
)

// recorder turns Ginkgo spec reports into results. Checks note their evidence
// (CPU, errno, detail) here before they pass or fail, because a Ginkgo failure
// message alone would lose the structure reports need.
type recorder struct {
	mu       sync.Mutex
	onResult func(result.Result)
	results  []result.Result
	hasSpecs bool
	current  *pending
}

type pending struct {
	res      result.Result
	isError  bool  // the environment, not the loader, failed
	closeErr error // a loader session that did not close cleanly
}

func (r *recorder) begin(base result.Result) *pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = &pending{res: base}
	return r.current
}

func (r *recorder) add(res result.Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	if r.onResult != nil {
		r.onResult(res)
	}
}

// finish is the ReportAfterEach hook: the spec's state decides the status.
func (r *recorder) finish(report types.SpecReport) {
	r.mu.Lock()
	p := r.current
	r.current = nil
	r.mu.Unlock()
	if p == nil {
		return // a spec that never reached its body (filtered out)
	}
	res := p.res
	res.Duration = report.RunTime
	msg := strings.TrimSpace(report.Failure.Message)
	switch report.State {
	case types.SpecStatePassed:
		res.Status = result.Pass
	case types.SpecStateSkipped:
		res.Status = result.Skip
		res.Detail = msg
	case types.SpecStateFailed:
		res.Status = result.Fail
		if p.isError {
			res.Status = result.Error
		}
		res.Detail = msg
	case types.SpecStatePanicked:
		res.Status = result.Error
		res.Detail = fmt.Sprintf("panic in the check: %s %v", msg, report.Failure.ForwardedPanic)
	default: // timed out, interrupted, aborted
		res.Status = result.Error
		res.Detail = fmt.Sprintf("%s: %s", report.State, msg)
	}
	if p.closeErr != nil {
		// The adapter broke the protocol when asked to stop: its verdict is
		// kept as evidence, but the result says nothing about the loader.
		found := string(res.Status)
		if res.Detail != "" {
			found += ": " + res.Detail
		}
		res.Status = result.Error
		res.Detail = fmt.Sprintf("the loader's session did not close cleanly: %v (the check itself found %s)", p.closeErr, found)
	}
	r.add(res)
}

// fillMissing adds an ERROR for every (loader, requirement) that produced no
// result (the run was interrupted, or Ginkgo skipped the spec), so a result is
// never silently missing.
func (r *recorder) fillMissing(loaders []NamedLoader, reqs []Requirement) {
	r.mu.Lock()
	have := make(map[[2]string]bool, len(r.results))
	for _, res := range r.results {
		have[[2]string{res.Loader, res.Requirement}] = true
	}
	r.mu.Unlock()
	for _, nl := range loaders {
		for _, req := range reqs {
			if !have[[2]string{nl.Name, req.ID}] {
				r.add(result.Result{Requirement: req.ID, Level: req.Level, Status: result.Error, Loader: nl.Name,
					Detail: "the check did not run (suite interrupted or aborted)"})
			}
		}
	}
}
