package suite

import (
	"cmp"
	"slices"
	"sync"

	"github.com/perfconform/perfconform/result"
)

// recorder collects the results of a run. Checks note their evidence (CPU,
// errno, detail) in their pending result before they pass or fail, because
// a failure message alone would lose the structure reports need.
type recorder struct {
	mu       sync.Mutex
	emitMu   *sync.Mutex // serializes OnResult with OnCheck (environment.emitMu)
	onResult func(result.Result)
	results  []result.Result
}

// pending is one check's result while it runs.
type pending struct {
	res      result.Result
	base     result.Result // res as the check began (requirement, loader, masks)
	isError  bool          // the environment, not the loader, failed
	closeErr error         // a loader session that did not close cleanly
	ended    error         // an adapter session ended on its own before a PASS (passWatch)
	failed   bool          // failf or errorf ended the check
	skipped  bool          // skip ended the check
	msg      string        // the failure or skip message
	panicked string        // the check panicked: the value and stack
}

// add records res and hands it to OnResult; calls never overlap, so
// OnResult needs no locking of its own even with loaders side by side.
func (r *recorder) add(res result.Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
	if r.onResult != nil {
		r.emitMu.Lock()
		defer r.emitMu.Unlock()
		r.onResult(res)
	}
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

// sorted returns the results in the order of a serial run: loader by
// loader as Config.Loaders lists them, each in the order of Requirements,
// however the checks were scheduled.
func (r *recorder) sorted(loaders []NamedLoader) []result.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	loaderAt := map[string]int{}
	for i, nl := range loaders {
		if _, ok := loaderAt[nl.Name]; !ok {
			loaderAt[nl.Name] = i
		}
	}
	reqAt := map[string]int{}
	for i, req := range Requirements {
		reqAt[req.ID] = i
	}
	out := slices.Clone(r.results)
	slices.SortStableFunc(out, func(a, b result.Result) int {
		return cmp.Or(cmp.Compare(loaderAt[a.Loader], loaderAt[b.Loader]), cmp.Compare(reqAt[a.Requirement], reqAt[b.Requirement]))
	})
	return out
}
