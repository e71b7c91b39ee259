package report

import (
	"slices"

	"github.com/perfconform/perfconform/result"
)

// Conflict is a cell (kernel, topology, loader, requirement) for which the
// merged inputs reported different statuses. Merge keeps the worst status
// (FAIL, then ERROR, SKIP, PASS) so that a flaky failure still gates.
type Conflict struct {
	Kernel      string        `json:"kernel"`
	Topology    string        `json:"topology"`
	Loader      string        `json:"loader"`
	Requirement string        `json:"requirement"`
	Kept        result.Status `json:"kept"`
	// Outcomes are the distinct results seen for the cell, in canonical
	// order.
	Outcomes []result.Result `json:"outcomes"`
}

func (c Conflict) key() cellKey { return cellKey{c.Kernel, c.Topology, c.Loader, c.Requirement} }

// MergeDirs reads the results of each path (ReadDir: the --out directory of
// a conform run, or a results.json file) and merges them (Merge). An input
// that cannot be read is an error naming it, and nothing is merged.
func MergeDirs(paths ...string) (*Results, []Conflict, error) {
	var inputs []*Results
	for _, p := range paths {
		r, err := ReadDir(p)
		if err != nil {
			return nil, nil, err
		}
		inputs = append(inputs, r)
	}
	merged, conflicts := Merge(inputs...)
	return merged, conflicts, nil
}

// Merge combines the results of several jobs or machines into one document.
//
// Each cell (kernel, topology, loader, requirement) appears once in the
// output however many inputs carry it. When inputs disagree on the status,
// the worst status is kept and the cell is returned (and recorded in
// Results.Conflicts) as a Conflict; results that differ only in detail or
// duration are not conflicts, and the first in canonical order is kept.
// Runs that are identical are kept once. Generated is the latest of the
// inputs'. Merge is commutative: input order does not change the output.
// Conflicts recorded in the inputs carry over. nil inputs are ignored.
func Merge(inputs ...*Results) (*Results, []Conflict) {
	out := &Results{Schema: SchemaVersion, Runs: []Run{}, Results: []result.Result{}}
	groups := map[cellKey][]result.Result{}
	seenRun := map[string]bool{}
	for _, in := range inputs {
		if in == nil {
			continue
		}
		if in.Generated.After(out.Generated) {
			out.Generated = in.Generated
		}
		for _, run := range in.Runs {
			j := mustJSON(run)
			if !seenRun[j] {
				seenRun[j] = true
				out.Runs = append(out.Runs, run)
			}
		}
		for _, r := range in.Results {
			groups[keyOf(r)] = append(groups[keyOf(r)], r)
		}
		for _, c := range in.Conflicts {
			groups[c.key()] = append(groups[c.key()], c.Outcomes...)
		}
	}
	sortRuns(out.Runs)

	keys := make([]cellKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)

	var conflicts []Conflict
	for _, k := range keys {
		g := dedupResults(groups[k])
		kept := g[0]
		distinct := map[result.Status]bool{}
		for _, r := range g {
			distinct[r.Status] = true
			if severity(r.Status) > severity(kept.Status) {
				kept = r
			}
		}
		out.Results = append(out.Results, kept)
		if len(distinct) > 1 {
			conflicts = append(conflicts, Conflict{
				Kernel: k.Kernel, Topology: k.Topology, Loader: k.Loader, Requirement: k.Requirement,
				Kept: kept.Status, Outcomes: g,
			})
		}
	}
	out.Conflicts = conflicts
	return out, slices.Clone(conflicts)
}

// dedupResults sorts rs canonically and drops exact duplicates.
func dedupResults(rs []result.Result) []result.Result {
	rs = slices.Clone(rs)
	sortResults(rs)
	return slices.CompactFunc(rs, func(a, b result.Result) bool { return mustJSON(a) == mustJSON(b) })
}
