package report_test

import (
	"fmt"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

// Two CI jobs ran the same cell; one saw a failure. Merge counts the cell
// once, keeps the failure and flags the conflict; Gate fails the build on
// the reference loader's MUSTs unless a baseline accepts the failure.
func ExampleMerge() {
	pass := result.Result{Kernel: "debian-6.1", Topology: "hotplug-8", Loader: "reference",
		Requirement: "RING-002", Level: result.Must, Status: result.Pass}
	fail := pass
	fail.Status, fail.Detail = result.Fail, "perf ring for CPU 4: no such device"

	merged, conflicts := report.Merge(
		&report.Results{Results: []result.Result{pass}},
		&report.Results{Results: []result.Result{fail}},
	)
	fmt.Println(len(merged.Results), "result, kept", merged.Results[0].Status)
	for _, c := range conflicts {
		fmt.Printf("conflict: %s %s/%s/%s kept %s of %d outcomes\n", c.Requirement, c.Kernel, c.Topology, c.Loader, c.Kept, len(c.Outcomes))
	}

	violations, _ := report.Gate(merged, report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}})
	for _, v := range violations {
		fmt.Println("gate:", v)
	}

	accepted := report.Baseline{Schema: 1, Loader: "reference", Deviations: []report.Deviation{
		{Requirement: "RING-002", Reason: "investigating, see #42", Topology: "hotplug-8"},
	}}
	violations, _ = report.Gate(merged, report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"},
		Baselines: map[string]report.Baseline{"reference": accepted}})
	fmt.Println("with baseline:", len(violations), "violations")
	// Output:
	// 1 result, kept FAIL
	// conflict: RING-002 debian-6.1/hotplug-8/reference kept FAIL of 2 outcomes
	// gate: debian-6.1/hotplug-8/reference: MUST RING-002 failed: perf ring for CPU 4: no such device
	// with baseline: 0 violations
}
